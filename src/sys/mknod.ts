import { lib, check } from './libc.js';

const mknodFn = lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)');

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** Linux's makedev: the glibc encoding of major/minor into a dev_t. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0), mi = BigInt(minor >>> 0);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  check(mknodFn(path, mode, makedev(major, minor)), 'mknod', path);
}
