// The one place that loads libc. Node's fs has no mknod, xattrs, mount, flock or quotactl;
// calling them through koffi avoids a process spawn per file on the unpack hot path.
import { SyscallError } from '../errors/index.js';
import { constants as osConstants } from 'node:os';
import { loadKoffi } from './koffi-load.js';

const koffi = loadKoffi();

export const lib = koffi.load('libc.so.6');

export function errno(): number {
  return koffi.errno();
}

const errnoMessages = new Map<number, string>();
for (const [name, num] of Object.entries(osConstants.errno)) errnoMessages.set(num as number, name);

/**
 * Throw a SyscallError for the current errno when `ret` is negative. `detail` may be a
 * function, for a message that costs something to build (a path from bytes, on a hot path).
 */
export function check(ret: number, syscall: string, detail: string | (() => string)): number {
  if (ret < 0) {
    const e = koffi.errno();
    throw new SyscallError(syscall, e, typeof detail === 'string' ? detail : detail(), strerror(e));
  }
  return ret;
}

const strerrorFn = lib.func('const char *strerror(int errnum)');
export function strerror(e: number): string {
  return (strerrorFn(e) as string) ?? errnoMessages.get(e) ?? `errno ${e}`;
}

export { koffi };
