// Image records (meta/images/<digest>.json): what a pulled image is made of, so `pull`
// then `create` (or a second create) reuses the cached volumes. Pins (meta/pins/<name>.json)
// keep an image's volumes from garbage collection (the controller's Image objects).
import { join } from 'node:path';
import type { ImageInfo } from '../rootfs/types.js';
import { InvalidArgumentError } from '../errors/index.js';
import { StoreLayout, digestKey } from './layout.js';
import { readRecord, writeRecord, removeRecord, listRecords } from './records.js';

export interface ImageRecord extends ImageInfo { pulledAt: string }

export interface PinRecord { name: string; source: string; digest: string; chainIDs: string[]; pinnedAt: string }

/** Names usable as file names in the store: ids of root filesystems and pins. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,253}$/;

export function checkName(what: string, name: string): void {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new InvalidArgumentError(`${what} ${JSON.stringify(name)} is not valid: use 1-254 characters from A-Z a-z 0-9 _ . - starting with a letter or digit (no '/' or '..')`);
  }
}

export class ImageRecords {
  constructor(private readonly layout: StoreLayout) {}

  get(digest: string): Promise<ImageRecord | undefined> {
    return readRecord<ImageRecord>(this.layout.imageRecord(digestKey(digest)));
  }

  async put(info: ImageInfo): Promise<ImageRecord> {
    const rec: ImageRecord = { ...info, pulledAt: new Date().toISOString() };
    await writeRecord(this.layout.imageRecord(digestKey(info.digest)), rec);
    return rec;
  }

  async list(): Promise<ImageRecord[]> {
    const out: ImageRecord[] = [];
    for (const key of await listRecords(join(this.layout.metaDir, 'images'))) {
      const r = await readRecord<ImageRecord>(join(this.layout.metaDir, 'images', `${key}.json`));
      if (r) out.push(r);
    }
    return out;
  }

  removeByDigest(digest: string): Promise<void> {
    return removeRecord(this.layout.imageRecord(digestKey(digest)));
  }
}

export class Pins {
  constructor(private readonly layout: StoreLayout) {}

  async pin(name: string, info: ImageInfo): Promise<void> {
    checkName('pin name', name);
    const rec: PinRecord = { name, source: info.source, digest: info.digest, chainIDs: info.chainIDs, pinnedAt: new Date().toISOString() };
    await writeRecord(this.layout.pinRecord(name), rec);
  }

  async unpin(name: string): Promise<void> {
    checkName('pin name', name);
    await removeRecord(this.layout.pinRecord(name));
  }

  async list(): Promise<PinRecord[]> {
    const out: PinRecord[] = [];
    for (const name of await listRecords(join(this.layout.metaDir, 'pins'))) {
      const r = await readRecord<PinRecord>(this.layout.pinRecord(name));
      if (r) out.push(r);
    }
    return out;
  }
}
