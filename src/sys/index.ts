export * from './mknod.js';
export * from './xattr.js';
export * from './flock.js';
export * from './mount.js';
export * from './fsync.js';
