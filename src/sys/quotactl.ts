// quotactl(2): the XFS-style calls (Q_XSETQLIM / Q_XGETQUOTA, struct fs_disk_quota) and the
// generic VFS ones (Q_SETQUOTA / Q_GETQUOTA, struct if_dqblk). `device` is the block device
// of the filesystem (for a loop-mounted store: /dev/loopN).
import { lib, check } from './libc.js';

const quotactlFn = lib.func('int quotactl(int cmd, const char *special, int id, void *addr)');

export const USRQUOTA = 0, GRPQUOTA = 1, PRJQUOTA = 2;
export type QuotaType = typeof USRQUOTA | typeof GRPQUOTA | typeof PRJQUOTA;

const SUBCMDSHIFT = 8;
export const qcmd = (cmd: number, type: number) => ((cmd << SUBCMDSHIFT) | (type & 0xff)) >>> 0;
const XQM_CMD = (x: number) => (0x58 /* 'X' */ << 8) + x;
const Q_XGETQUOTA = XQM_CMD(3);
const Q_XSETQLIM = XQM_CMD(4);
const Q_GETQUOTA = 0x800007;
const Q_SETQUOTA = 0x800008;

/** fs_disk_quota counts in 512-byte "basic blocks". */
const BBSIZE = 512;
const FS_DQUOT_VERSION = 1;
const FS_PROJ_QUOTA = 2, FS_USER_QUOTA = 1, FS_GROUP_QUOTA = 4;
const FS_DQ_BSOFT = 1 << 2, FS_DQ_BHARD = 1 << 3;
const FS_DISK_QUOTA_SIZE = 112;
/** if_dqblk limits count in 1 KiB blocks; usage is in bytes. */
const QIF_DQBLKSIZE = 1024;
const QIF_BLIMITS = 1;
const IF_DQBLK_SIZE = 72;

export interface QuotaUsage {
  /** Hard block limit in bytes (0 = none). */
  hardLimitBytes: number;
  softLimitBytes: number;
  usedBytes: number;
  inodes: number;
}

function xflag(type: QuotaType): number {
  return type === PRJQUOTA ? FS_PROJ_QUOTA : type === GRPQUOTA ? FS_GROUP_QUOTA : FS_USER_QUOTA;
}

function call(cmd: number, type: QuotaType, device: string, id: number, buf: Buffer, name: string): void {
  check(quotactlFn(qcmd(cmd, type), device, id, buf), 'quotactl', `${name} ${device} id ${id}`);
}

/** Q_XSETQLIM: block hard and soft limits in bytes (rounded up to 512-byte blocks; 0 = none). */
export function xSetBlockLimit(device: string, type: QuotaType, id: number, hardBytes: number, softBytes = hardBytes): void {
  const d = Buffer.alloc(FS_DISK_QUOTA_SIZE);
  d.writeInt8(FS_DQUOT_VERSION, 0);
  d.writeInt8(xflag(type), 1);
  d.writeUInt16LE(FS_DQ_BSOFT | FS_DQ_BHARD, 2);
  d.writeUInt32LE(id >>> 0, 4);
  d.writeBigUInt64LE(BigInt(Math.ceil(hardBytes / BBSIZE)), 8);
  d.writeBigUInt64LE(BigInt(Math.ceil(softBytes / BBSIZE)), 16);
  call(Q_XSETQLIM, type, device, id, d, 'Q_XSETQLIM');
}

/** Q_XGETQUOTA. Throws ENOENT (XFS) when the id has no quota record yet. */
export function xGetQuota(device: string, type: QuotaType, id: number): QuotaUsage {
  const d = Buffer.alloc(FS_DISK_QUOTA_SIZE);
  call(Q_XGETQUOTA, type, device, id, d, 'Q_XGETQUOTA');
  const bb = (off: number) => Number(d.readBigUInt64LE(off)) * BBSIZE;
  return { hardLimitBytes: bb(8), softLimitBytes: bb(16), usedBytes: bb(40), inodes: Number(d.readBigUInt64LE(48)) };
}

/** Q_SETQUOTA (generic VFS quota): block limits in bytes, rounded up to 1 KiB. */
export function setBlockLimit(device: string, type: QuotaType, id: number, hardBytes: number, softBytes = hardBytes): void {
  const d = Buffer.alloc(IF_DQBLK_SIZE);
  d.writeBigUInt64LE(BigInt(Math.ceil(hardBytes / QIF_DQBLKSIZE)), 0);
  d.writeBigUInt64LE(BigInt(Math.ceil(softBytes / QIF_DQBLKSIZE)), 8);
  d.writeUInt32LE(QIF_BLIMITS, 64);
  call(Q_SETQUOTA, type, device, id, d, 'Q_SETQUOTA');
}

/** Q_GETQUOTA (generic VFS quota). */
export function getQuota(device: string, type: QuotaType, id: number): QuotaUsage {
  const d = Buffer.alloc(IF_DQBLK_SIZE);
  call(Q_GETQUOTA, type, device, id, d, 'Q_GETQUOTA');
  const n = (off: number) => Number(d.readBigUInt64LE(off));
  return { hardLimitBytes: n(0) * QIF_DQBLKSIZE, softLimitBytes: n(8) * QIF_DQBLKSIZE, usedBytes: n(16), inodes: n(40) };
}
