// The `none` quota backend: for filesystems that cannot enforce a limit. Nothing is
// enforced; usage is measured by walking the tree (every inode once, allocated blocks),
// staying on the dir's own filesystem so a mounted rootfs below it is not counted.
import { mkdir, lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import type { QuotaBackend } from './types.js';

export class NoneQuota implements QuotaBackend {
  readonly kind = 'none' as const;

  async assign(dir: string): Promise<void> {
    try {
      await mkdir(dir, { mode: 0o755 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }

  /** Nothing can enforce it here; the engine records the limit for stats. */
  async setLimit(_dir: string, _bytes: number): Promise<void> {}

  usage(dir: string): Promise<number> {
    return diskUsage(dir);
  }

  async release(_dir: string): Promise<void> {}
}

/**
 * Bytes allocated below `dir` (st_blocks * 512, hardlinks once), not crossing into other
 * filesystems. A missing dir uses nothing.
 */
export async function diskUsage(dir: string): Promise<number> {
  let root;
  try {
    root = await lstat(dir, { bigint: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  const dev = root.dev;
  const seen = new Set<bigint>();
  let total = 0n;
  const walk = async (path: string): Promise<void> => {
    let d;
    try {
      d = await opendir(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // removed while walking
      throw e;
    }
    for await (const ent of d) {
      const p = join(path, ent.name);
      let st;
      try {
        st = await lstat(p, { bigint: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      if (st.dev !== dev) continue; // a mountpoint: another filesystem
      if (st.nlink > 1n) {
        if (seen.has(st.ino)) continue;
        seen.add(st.ino);
      }
      total += st.blocks * 512n;
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return Number(total);
}
