// Printer columns: the CRDs declare them and `groot get` prints the same ones.
import type { Kind } from './constants.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  /** > 0: only with -o wide. */
  priority?: number;
}

const READY: PrinterColumn = { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Whether the object is reconciled and usable' };
const REASON: PrinterColumn = { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', description: 'Why Ready has its status', priority: 1 };
const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since the object was created' };

export const PRINTER_COLUMNS: Record<Kind, PrinterColumn[]> = {
  Image: [
    READY,
    { name: 'Source', type: 'string', jsonPath: '.spec.source', description: 'Where the image comes from' },
    { name: 'Digest', type: 'string', jsonPath: '.status.digest', description: 'Resolved manifest digest' },
    { name: 'Size', type: 'integer', jsonPath: '.status.size.unpackedBytes', description: 'Unpacked size in bytes' },
    AGE,
    REASON,
    { name: 'Pulled', type: 'integer', jsonPath: '.status.progress.bytesDone', description: 'Bytes fetched so far while pulling', priority: 1 },
  ],
  RootFS: [
    READY,
    { name: 'Image', type: 'string', jsonPath: '.spec.image', description: 'Image name or source' },
    { name: 'Digest', type: 'string', jsonPath: '.status.imageDigest', description: 'Digest of the image it was made from' },
    { name: 'Usage', type: 'integer', jsonPath: '.status.usage.totalBytesUsed', description: 'Bytes used (image counted unless excluded from quota)' },
    AGE,
    REASON,
    { name: 'Limit', type: 'integer', jsonPath: '.spec.diskLimitBytes', description: 'Disk limit in bytes (0: none)', priority: 1 },
    { name: 'Path', type: 'string', jsonPath: '.status.path', description: 'Root filesystem path', priority: 1 },
  ],
};
