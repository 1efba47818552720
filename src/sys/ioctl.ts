// ioctl(2) and the generic inode attribute calls built on it (FS_IOC_FSGETXATTR/FSSETXATTR:
// project id + PROJINHERIT, the same on XFS and ext4).
import { openSync, closeSync, constants as fsConstants } from 'node:fs';
import { lib, check } from './libc.js';

// glibc declares ioctl variadic; calling it as such keeps the ABI honest.
const ioctlFn = lib.func('int ioctl(int fd, unsigned long request, ...)');

const IOC_NONE = 0, IOC_WRITE = 1, IOC_READ = 2;
function ioc(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}
/** The kernel's _IO/_IOR/_IOW/_IOWR request encodings. */
export const IO = (type: number, nr: number) => ioc(IOC_NONE, type, nr, 0);
export const IOR = (type: number, nr: number, size: number) => ioc(IOC_READ, type, nr, size);
export const IOW = (type: number, nr: number, size: number) => ioc(IOC_WRITE, type, nr, size);
export const IOWR = (type: number, nr: number, size: number) => ioc(IOC_READ | IOC_WRITE, type, nr, size);

/** ioctl with a buffer the kernel reads and/or fills (or a plain integer argument). */
export function ioctl(fd: number, request: number, arg: Buffer | number | null, what: string): number {
  const r = typeof arg === 'number'
    ? ioctlFn(fd, request, 'unsigned long', arg)
    : ioctlFn(fd, request, 'void *', arg);
  return check(r as number, 'ioctl', `${what}, 0x${request.toString(16)}`);
}

/** Run `fn` with a read-only fd on path (a directory or a file). */
export function withFd<T>(path: string, fn: (fd: number) => T, flags = fsConstants.O_RDONLY): T {
  const fd = openSync(path, flags | fsConstants.O_NOFOLLOW);
  try { return fn(fd); } finally { closeSync(fd); }
}

export const FS_XFLAG_PROJINHERIT = 0x200;

/** struct fsxattr (28 bytes). */
export interface FsXattr { xflags: number; extsize: number; nextents: number; projid: number; cowextsize: number }
const FSXATTR_SIZE = 28;
const FS_IOC_FSGETXATTR = IOR(0x58 /* 'X' */, 31, FSXATTR_SIZE);
const FS_IOC_FSSETXATTR = IOW(0x58, 32, FSXATTR_SIZE);

export function fsGetXattr(path: string): FsXattr {
  const buf = Buffer.alloc(FSXATTR_SIZE);
  withFd(path, (fd) => ioctl(fd, FS_IOC_FSGETXATTR, buf, `FS_IOC_FSGETXATTR ${path}`));
  return { xflags: buf.readUInt32LE(0), extsize: buf.readUInt32LE(4), nextents: buf.readUInt32LE(8),
    projid: buf.readUInt32LE(12), cowextsize: buf.readUInt32LE(16) };
}

/** Read-modify-write of the inode's project id and flags. */
export function fsSetXattr(path: string, change: (x: FsXattr) => FsXattr): void {
  withFd(path, (fd) => {
    const buf = Buffer.alloc(FSXATTR_SIZE);
    ioctl(fd, FS_IOC_FSGETXATTR, buf, `FS_IOC_FSGETXATTR ${path}`);
    const x = change({ xflags: buf.readUInt32LE(0), extsize: buf.readUInt32LE(4), nextents: buf.readUInt32LE(8),
      projid: buf.readUInt32LE(12), cowextsize: buf.readUInt32LE(16) });
    buf.writeUInt32LE(x.xflags >>> 0, 0);
    buf.writeUInt32LE(x.extsize >>> 0, 4);
    buf.writeUInt32LE(x.projid >>> 0, 12);
    buf.writeUInt32LE(x.cowextsize >>> 0, 16);
    ioctl(fd, FS_IOC_FSSETXATTR, buf, `FS_IOC_FSSETXATTR ${path}`);
  });
}
