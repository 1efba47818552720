// The store: layout, locks, volumes, image and rootfs records, repair, garbage collection.
export * from './layout.js';
export * from './locks.js';
export * from './records.js';
export * from './volumes.js';
export * from './images.js';
export * from './rootfs-records.js';
export * from './mounts.js';
export * from './store.js';
export * from './pull.js';
export * from './inherit.js';
export * from './namespace.js';
