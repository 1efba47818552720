// Filesystems for the benchmarks: a fresh XFS on a loop device (what GrootFS stores sit
// on), so figures do not depend on the state of the host's own filesystem, and teardown
// of every mount below a directory.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';

/** Lazily unmount everything mounted below dir, deepest first. */
export function unmountUnder(dir) {
  spawnSync('sh', ['-c', `for m in $(findmnt -rn -o TARGET | grep '^${dir}/' | sort -r); do umount -l "$m"; done`]);
}

/**
 * Mount a fresh XFS of `size` bytes (sparse file `${dir}.img`, loop, noatime) on dir.
 * Returns the teardown: unmount below and at dir, remove the image file.
 */
export function mountFreshXfs(dir, size = 8_000_000_000) {
  const img = `${dir}.img`;
  const teardown = () => {
    unmountUnder(dir);
    spawnSync('umount', [dir], { stdio: 'ignore' });
    rmSync(img, { force: true });
  };
  mkdirSync(dir, { recursive: true });
  for (const [cmd, args] of [['truncate', ['-s', String(size), img]], ['mkfs.xfs', ['-q', '-f', img]], ['mount', ['-o', 'loop,noatime', img, dir]]]) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) { teardown(); throw new Error(`${cmd} failed (${r.status ?? r.signal}): ${r.stderr ?? ''}`); }
  }
  return teardown;
}
