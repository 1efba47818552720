// Root filesystem records (meta/rootfs/<id>.json). The record is the rootfs's commit
// marker: written last by create, removed first by delete. A rootfs dir without a record
// is a half-made or half-deleted one, and start-up repair removes it.
import { join } from 'node:path';
import type { RootfsInfo } from '../rootfs/types.js';
import { StoreLayout } from './layout.js';
import { readRecord, writeRecord, removeRecord, listRecords } from './records.js';

export interface RootfsRecord extends Omit<RootfsInfo, 'mounted'> {
  /** The limit set on the rootfs's upper/work dir (after the inclusive-quota subtraction); 0 = none. */
  quotaBytes: number;
  /** Unpacked size of the image's volumes when created. */
  imageSize: number;
  quotaBackend: string;
}

export class RootfsRecords {
  constructor(private readonly layout: StoreLayout) {}

  get(id: string): Promise<RootfsRecord | undefined> {
    return readRecord<RootfsRecord>(this.layout.rootfsRecord(id));
  }

  put(rec: RootfsRecord): Promise<void> {
    return writeRecord(this.layout.rootfsRecord(rec.id), rec);
  }

  remove(id: string): Promise<void> {
    return removeRecord(this.layout.rootfsRecord(id));
  }

  ids(): Promise<string[]> {
    return listRecords(join(this.layout.metaDir, 'rootfs'));
  }

  async list(): Promise<RootfsRecord[]> {
    const out: RootfsRecord[] = [];
    for (const id of await this.ids()) {
      const r = await this.get(id);
      if (r) out.push(r);
    }
    return out;
  }
}
