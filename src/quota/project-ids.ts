// Project ID allocation for project quotas. One file per ID in <store>/projectids/, made
// with O_EXCL: the filesystem decides which of two concurrent creates gets an ID, so no
// lock is needed and a crash never leaves the allocator itself locked.
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Project 0 is everything not assigned; stay far below 2^32-1 (the "no id" value). */
const FIRST_ID = 1;
const LAST_ID = 0xfffffffe;

export class ProjectIds {
  constructor(readonly dir: string) {}

  private file(id: number): string { return join(this.dir, String(id)); }

  /**
   * The lowest free ID, now owned by `owner` (a path, recorded for people and repair).
   * `isClean(id)` may veto an ID that still has quota usage from a rootfs whose files are
   * not gone yet, so a new rootfs never inherits someone else's bytes.
   */
  async allocate(owner: string, isClean: (id: number) => boolean): Promise<number> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const used = new Set((await readdir(this.dir)).map(Number).filter(Number.isInteger));
    for (let id = FIRST_ID; id <= LAST_ID; id++) {
      if (used.has(id)) continue;
      let fh;
      try {
        fh = await open(this.file(id), 'wx', 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw e;
      }
      try { await fh.writeFile(owner + '\n'); } finally { await fh.close(); }
      if (!isClean(id)) {
        await unlink(this.file(id));
        continue;
      }
      return id;
    }
    throw new Error(`no free project id in ${this.dir}`);
  }

  /** The owner recorded for id, or undefined when the id is free. */
  async owner(id: number): Promise<string | undefined> {
    try {
      return (await readFile(this.file(id), 'utf8')).trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** The id recorded for owner (a slow scan, for repair when the dir itself is gone). */
  async find(owner: string): Promise<number | undefined> {
    let names: string[];
    try { names = await readdir(this.dir); } catch { return undefined; }
    for (const n of names) {
      const id = Number(n);
      if (Number.isInteger(id) && (await this.owner(id)) === owner) return id;
    }
    return undefined;
  }

  async free(id: number): Promise<void> {
    try {
      await unlink(this.file(id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
