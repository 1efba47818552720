// Small JSON records (one file each) written atomically: a crash leaves old or new, never half.
// Reads are synchronous calls: a record is a few hundred bytes, read in microseconds, where
// each await of the promise API costs a thread pool round trip (behind inflate jobs while
// layers unpack); a CLI command reads dozens.
import { readFileSync, readdirSync } from 'node:fs';
import { writeJsonAtomic, removeFile } from '../sys/index.js';
import { StoreError, storeFullError } from '../errors/index.js';

/** The parsed record, or undefined when there is none. A corrupt record is an error naming it. */
export async function readRecord<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new StoreError(`store record ${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Durable unless `sync: false` (then a later syncfs must cover it before anything relies on
 * it). A full filesystem is a StoreFullError naming the record; nothing of it is left.
 */
export async function writeRecord(path: string, value: unknown, opts: { sync?: boolean } = {}): Promise<void> {
  try {
    await writeJsonAtomic(path, value, opts);
  } catch (e) {
    throw storeFullError(`store record ${path}: write`, e) ?? e;
  }
}

/** Remove a record durably (records are commit markers: a removal must survive a crash). */
export async function removeRecord(path: string): Promise<void> {
  await removeFile(path, { sync: true });
}

/** Names (without .json) of the records in dir; temp files of interrupted writes are skipped. */
export async function listRecords(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -5)).sort();
}
