export * from './mknod.js';
export * from './xattr.js';
export * from './flock.js';
export * from './mount.js';
export * from './fsync.js';
export * from './ioctl.js';
export * from './loop.js';
export * from './quotactl.js';
export * as btrfs from './btrfs.js';
