import { openSync, closeSync } from 'node:fs';
import { lib, check, errno } from './libc.js';
import { SyscallError } from '../errors/index.js';

const flockFn = lib.func('int flock(int fd, int op)');
const LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
const EWOULDBLOCK = 11;

export interface Lock { release(): Promise<void>; }

/**
 * flock(2) on `path` (created if missing). Blocking waits run on koffi's worker
 * thread so the event loop keeps going. Locks die with the process, so a crash never
 * leaves the store locked.
 */
export async function lockFile(path: string, mode: 'shared' | 'exclusive'): Promise<Lock> {
  const fd = openSync(path, 'a');
  const op = mode === 'shared' ? LOCK_SH : LOCK_EX;
  try {
    // Fast path without a thread hop.
    if (flockFn(fd, op | LOCK_NB) !== 0) {
      if (errno() !== EWOULDBLOCK) check(-1, 'flock', path);
      await new Promise<void>((resolve, reject) => {
        flockFn.async(fd, op, (err: unknown, ret: number) => {
          if (err) reject(err);
          else if (ret !== 0) reject(new SyscallError('flock', 5, path, 'blocking flock failed'));
          else resolve();
        });
      });
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return makeLock(fd);
}

/** Like lockFile but returns undefined instead of waiting. */
export async function tryLockFile(path: string, mode: 'shared' | 'exclusive'): Promise<Lock | undefined> {
  const fd = openSync(path, 'a');
  const op = (mode === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB;
  if (flockFn(fd, op) !== 0) {
    const e = errno();
    closeSync(fd);
    if (e === EWOULDBLOCK) return undefined;
    throw new SyscallError('flock', e, path, 'flock failed');
  }
  return makeLock(fd);
}

// The lock file is opened and closed with synchronous calls (microseconds; a CLI command
// takes several locks, each would cost thread pool round trips).
function makeLock(fd: number): Lock {
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      flockFn(fd, LOCK_UN);
      closeSync(fd);
    },
  };
}
