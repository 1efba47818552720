// Calls that take a path as raw bytes (a Buffer) instead of a JS string, so file names
// that are not valid UTF-8 (tar names are bytes) reach the kernel unchanged, plus
// utimensat/futimens for nanosecond mtimes (Node's utimes goes through a double and
// loses the last digits).
import { makedev } from './mknod.js';
import { lib, check } from './libc.js';

const mknodFn = lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)');
const lsetxattrFn = lib.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)');
const utimensatFn = lib.func('int utimensat(int dirfd, const char *path, const void *times, int flags)');
const futimensFn = lib.func('int futimens(int fd, const void *times)');

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

/** The bytes with a terminating NUL, as koffi passes a Buffer's memory as is. */
function cstr(path: Buffer): Buffer {
  const b = Buffer.allocUnsafe(path.length + 1);
  path.copy(b);
  b[path.length] = 0;
  return b;
}

/** A path for an error message: passed to check() as a function, so built only when a call fails (the unpack hot path). */
function show(path: Buffer): string {
  return path.toString('utf8');
}

export function mknodBytes(path: Buffer, mode: number, major = 0, minor = 0): void {
  check(mknodFn(cstr(path), mode, makedev(major, minor)), 'mknod', () => show(path));
}

export function lsetxattrBytes(path: Buffer, name: string, value: Buffer): void {
  check(lsetxattrFn(cstr(path), name, value, value.length, 0), 'lsetxattr', () => `${show(path)}, ${name}`);
}

/** A point in time as whole seconds (may be negative) and nanoseconds 0..999999999. */
export interface Timespec { sec: number; nsec: number }

// One buffer for every call: the calls are synchronous, and this is the unpack hot path.
const times = Buffer.alloc(32);

function timespecs(atime: Timespec, mtime: Timespec): Buffer {
  const b = times;
  int64(b, atime.sec, 0);
  int64(b, atime.nsec, 8);
  int64(b, mtime.sec, 16);
  int64(b, mtime.nsec, 24);
  return b;
}

/** A whole number (|n| < 2^53) as a little-endian int64, without a BigInt per call. */
function int64(b: Buffer, n: number, at: number): void {
  const hi = Math.floor(n / 4294967296);
  b.writeUInt32LE(n - hi * 4294967296, at);
  b.writeInt32LE(hi, at + 4);
}

/** Set atime and mtime of `path` itself (a symlink is not followed). */
export function lutimensBytes(path: Buffer, atime: Timespec, mtime: Timespec): void {
  check(utimensatFn(AT_FDCWD, cstr(path), timespecs(atime, mtime), AT_SYMLINK_NOFOLLOW), 'utimensat', () => show(path));
}

export function futimens(fd: number, atime: Timespec, mtime: Timespec): void {
  check(futimensFn(fd, timespecs(atime, mtime)), 'futimens', () => `fd ${fd}`);
}
