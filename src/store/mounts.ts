// Unmounting everything at or below a directory before it is removed: `rm -rf` must never
// walk into a mounted filesystem.
import { mountTable, umount, MNT_DETACH } from '../sys/index.js';
import { SyscallError, StoreError } from '../errors/index.js';

const EBUSY = 16;

/** Unmount `target`; when busy (a process has its cwd inside), detach it lazily instead. */
export function unmountPath(target: string): void {
  try {
    umount(target, 0);
  } catch (e) {
    if (e instanceof SyscallError && e.errno === EBUSY) umount(target, MNT_DETACH);
    else throw e;
  }
}

export async function mountsUnder(dir: string): Promise<string[]> {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return (await mountTable()).map((m) => m.mountpoint).filter((p) => p === dir || p.startsWith(prefix));
}

/** Unmount every mount at or below dir, deepest first, and check none is left. */
export async function unmountTree(dir: string): Promise<void> {
  for (let round = 0; round < 8; round++) {
    const mps = await mountsUnder(dir);
    if (mps.length === 0) return;
    // Deepest first; a path mounted twice appears twice and is unmounted twice.
    mps.sort((a, b) => b.length - a.length);
    for (const mp of mps) unmountPath(mp);
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new StoreError(`cannot unmount ${left.join(', ')}: still mounted after repeated unmounts`);
}
