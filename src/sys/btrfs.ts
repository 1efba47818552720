// btrfs ioctls: subvolumes, quota (qgroups) and the tree search that reads qgroup numbers.
// Layouts are the kernel's uapi (linux/btrfs.h, linux/btrfs_tree.h); all little-endian here.
import { constants as fsConstants } from 'node:fs';
import { dirname, basename } from 'node:path';
import { ioctl, IO, IOR, IOW, IOWR, withFd } from './ioctl.js';
import { SyscallError } from '../errors/index.js';

const M = 0x94; // BTRFS_IOCTL_MAGIC
const VOL_ARGS_SIZE = 4096; // struct btrfs_ioctl_vol_args { __s64 fd; char name[4088]; }
const BTRFS_IOC_SYNC = IO(M, 8);
const BTRFS_IOC_SUBVOL_CREATE = IOW(M, 14, VOL_ARGS_SIZE);
const BTRFS_IOC_SNAP_DESTROY = IOW(M, 15, VOL_ARGS_SIZE);
const BTRFS_IOC_TREE_SEARCH = IOWR(M, 17, 4096);
const BTRFS_IOC_INO_LOOKUP = IOWR(M, 18, 4096);
const BTRFS_IOC_QUOTA_CTL = IOWR(M, 40, 16);
const BTRFS_IOC_QGROUP_CREATE = IOW(M, 42, 16);
const BTRFS_IOC_QGROUP_LIMIT = IOR(M, 43, 48); // _IOR in the uapi header, oddly
const BTRFS_IOC_QUOTA_RESCAN = IOW(M, 44, 64);
const BTRFS_IOC_QUOTA_RESCAN_WAIT = IO(M, 46);

const BTRFS_QUOTA_CTL_ENABLE = 1;
const BTRFS_QGROUP_LIMIT_MAX_RFER = 1;
const CLEAR_VALUE = 0xffffffffffffffffn;
const BTRFS_FIRST_FREE_OBJECTID = 256n;
const ROOT_TREE_OBJECTID = 1n, QUOTA_TREE_OBJECTID = 8n;
const ROOT_ITEM_KEY = 132, QGROUP_STATUS_KEY = 240, QGROUP_INFO_KEY = 242;
const BTRFS_QGROUP_STATUS_FLAG_ON = 1n, BTRFS_QGROUP_STATUS_FLAG_INCONSISTENT = 4n;
const ENOENT = 2, EINPROGRESS = 115;

const dirFlags = fsConstants.O_RDONLY | fsConstants.O_DIRECTORY;

function volArgs(name: string): Buffer {
  const b = Buffer.alloc(VOL_ARGS_SIZE);
  const n = Buffer.from(name);
  if (n.length >= VOL_ARGS_SIZE - 8) throw new SyscallError('ioctl', 36, name, 'subvolume name too long');
  n.copy(b, 8);
  return b;
}

/** Create `path` as a new, empty subvolume (its parent must exist on btrfs). */
export function createSubvolume(path: string): void {
  withFd(dirname(path), (fd) => ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, volArgs(basename(path)), `BTRFS_IOC_SUBVOL_CREATE ${path}`), dirFlags);
}

/** Delete the subvolume at `path` with everything in it (root needs no emptying first). */
export function deleteSubvolume(path: string): void {
  withFd(dirname(path), (fd) => ioctl(fd, BTRFS_IOC_SNAP_DESTROY, volArgs(basename(path)), `BTRFS_IOC_SNAP_DESTROY ${path}`), dirFlags);
}

/** The id of the subvolume that holds `path` (a subvolume's root gives its own id). */
export function subvolumeId(path: string): bigint {
  const b = Buffer.alloc(4096);
  b.writeBigUInt64LE(0n, 0);
  b.writeBigUInt64LE(BTRFS_FIRST_FREE_OBJECTID, 8);
  withFd(path, (fd) => ioctl(fd, BTRFS_IOC_INO_LOOKUP, b, `BTRFS_IOC_INO_LOOKUP ${path}`), dirFlags);
  return b.readBigUInt64LE(0);
}

/** Commit the current transaction: qgroup numbers are brought up to date at commit. */
export function btrfsSync(path: string): void {
  withFd(path, (fd) => ioctl(fd, BTRFS_IOC_SYNC, 0, `BTRFS_IOC_SYNC ${path}`), dirFlags);
}

export function enableQuota(path: string): void {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(BTRFS_QUOTA_CTL_ENABLE), 0);
  withFd(path, (fd) => ioctl(fd, BTRFS_IOC_QUOTA_CTL, b, `BTRFS_IOC_QUOTA_CTL enable ${path}`), dirFlags);
}

/** Wait for a running qgroup rescan to finish (none running: returns at once). */
export function waitQuotaRescan(path: string): void {
  withFd(path, (fd) => ioctl(fd, BTRFS_IOC_QUOTA_RESCAN_WAIT, 0, `BTRFS_IOC_QUOTA_RESCAN_WAIT ${path}`), dirFlags);
}

/** Start a rescan (already running is fine) and wait for it. */
export function rescanQuota(path: string): void {
  try {
    withFd(path, (fd) => ioctl(fd, BTRFS_IOC_QUOTA_RESCAN, Buffer.alloc(64), `BTRFS_IOC_QUOTA_RESCAN ${path}`), dirFlags);
  } catch (e) {
    if (!(e instanceof SyscallError && e.errno === EINPROGRESS)) throw e;
  }
  waitQuotaRescan(path);
}

/** Limit the referenced bytes of qgroup 0/`subvolid`; 0 removes the limit. */
export function limitQgroup(path: string, subvolid: bigint, maxReferencedBytes: number): void {
  const b = Buffer.alloc(48);
  b.writeBigUInt64LE(subvolid, 0);
  b.writeBigUInt64LE(BigInt(BTRFS_QGROUP_LIMIT_MAX_RFER), 8);
  b.writeBigUInt64LE(maxReferencedBytes > 0 ? BigInt(maxReferencedBytes) : CLEAR_VALUE, 16);
  withFd(path, (fd) => ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, b, `BTRFS_IOC_QGROUP_LIMIT 0/${subvolid} ${path}`), dirFlags);
}

/** Remove qgroup 0/`subvolid`; a qgroup that is not there is not an error. */
export function destroyQgroup(path: string, subvolid: bigint): void {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(0n, 0); // create = 0: remove
  b.writeBigUInt64LE(subvolid, 8);
  try {
    withFd(path, (fd) => ioctl(fd, BTRFS_IOC_QGROUP_CREATE, b, `BTRFS_IOC_QGROUP_CREATE remove 0/${subvolid}`), dirFlags);
  } catch (e) {
    if (!(e instanceof SyscallError && e.errno === ENOENT)) throw e;
  }
}

interface SearchItem { objectid: bigint; type: number; offset: bigint; data: Buffer }

/** BTRFS_IOC_TREE_SEARCH for one exact key range (enough for the few items we read). */
function treeSearch(path: string, tree: bigint, objectid: bigint, type: number, minOffset: bigint, maxOffset: bigint): SearchItem[] {
  const b = Buffer.alloc(4096);
  b.writeBigUInt64LE(tree, 0);
  b.writeBigUInt64LE(objectid, 8);
  b.writeBigUInt64LE(objectid, 16);
  b.writeBigUInt64LE(minOffset, 24);
  b.writeBigUInt64LE(maxOffset, 32);
  b.writeBigUInt64LE(0n, 40);
  b.writeBigUInt64LE(CLEAR_VALUE, 48);
  b.writeUInt32LE(type, 56);
  b.writeUInt32LE(type, 60);
  b.writeUInt32LE(64, 64); // nr_items wanted
  withFd(path, (fd) => ioctl(fd, BTRFS_IOC_TREE_SEARCH, b, `BTRFS_IOC_TREE_SEARCH tree ${tree} ${path}`), dirFlags);
  const n = b.readUInt32LE(64);
  const items: SearchItem[] = [];
  let off = 104;
  for (let i = 0; i < n; i++) {
    const len = b.readUInt32LE(off + 28);
    items.push({ objectid: b.readBigUInt64LE(off + 8), offset: b.readBigUInt64LE(off + 16), type: b.readUInt32LE(off + 24),
      data: b.subarray(off + 32, off + 32 + len) });
    off += 32 + len;
  }
  return items;
}

export interface QuotaStatus { enabled: boolean; inconsistent: boolean }

/** Whether quotas are on for the filesystem holding `path` (the quota tree exists and says so). */
export function quotaStatus(path: string): QuotaStatus {
  let items: SearchItem[];
  try {
    items = treeSearch(path, QUOTA_TREE_OBJECTID, 0n, QGROUP_STATUS_KEY, 0n, 0n);
  } catch (e) {
    if (e instanceof SyscallError && e.errno === ENOENT) return { enabled: false, inconsistent: false };
    throw e;
  }
  if (items.length === 0) return { enabled: false, inconsistent: false };
  const flags = items[0].data.readBigUInt64LE(16); // generation, version, flags
  return { enabled: (flags & BTRFS_QGROUP_STATUS_FLAG_ON) !== 0n, inconsistent: (flags & BTRFS_QGROUP_STATUS_FLAG_INCONSISTENT) !== 0n };
}

export interface QgroupInfo { referenced: number; exclusive: number }

/** The numbers of qgroup 0/`subvolid`, or undefined when there is no such qgroup. */
export function qgroupInfo(path: string, subvolid: bigint): QgroupInfo | undefined {
  const items = treeSearch(path, QUOTA_TREE_OBJECTID, 0n, QGROUP_INFO_KEY, subvolid, subvolid);
  const it = items.find((i) => i.offset === subvolid);
  if (!it) return undefined;
  return { referenced: Number(it.data.readBigUInt64LE(8)), exclusive: Number(it.data.readBigUInt64LE(24)) };
}

/** Whether the subvolume's root item is still there (a deleted one lingers until the cleaner drops it). */
export function subvolumeExists(path: string, subvolid: bigint): boolean {
  return treeSearch(path, ROOT_TREE_OBJECTID, subvolid, ROOT_ITEM_KEY, 0n, CLEAR_VALUE).length > 0;
}
