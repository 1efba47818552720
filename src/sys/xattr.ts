import { lib, check, errno } from './libc.js';

const lsetxattrFn = lib.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)');
const lgetxattrFn = lib.func('long lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)');
const llistxattrFn = lib.func('long llistxattr(const char *path, _Out_ void *list, size_t size)');
const lremovexattrFn = lib.func('int lremovexattr(const char *path, const char *name)');

const ENODATA = 61;

export function lsetxattr(path: string, name: string, value: Buffer | string): void {
  const buf = typeof value === 'string' ? Buffer.from(value) : value;
  check(lsetxattrFn(path, name, buf, buf.length, 0), 'lsetxattr', `${path}, ${name}`);
}

/** The xattr's value, or undefined when it is not set. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  let size = 256;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = Number(lgetxattrFn(path, name, buf, size));
    if (n >= 0) return buf.subarray(0, n);
    const e = errno();
    if (e === ENODATA) return undefined;
    if (e === 34 /* ERANGE */ && size < 1 << 20) { size *= 8; continue; }
    check(-1, 'lgetxattr', `${path}, ${name}`);
  }
}

export function llistxattr(path: string): string[] {
  let size = 1024;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = Number(llistxattrFn(path, buf, size));
    if (n >= 0) return buf.subarray(0, n).toString('utf8').split('\0').filter((s) => s.length > 0);
    if (errno() === 34 && size < 1 << 20) { size *= 8; continue; }
    check(-1, 'llistxattr', path);
  }
}

export function lremovexattr(path: string, name: string): void {
  const r = lremovexattrFn(path, name);
  if (r < 0 && errno() === ENODATA) return;
  check(r, 'lremovexattr', `${path}, ${name}`);
}
