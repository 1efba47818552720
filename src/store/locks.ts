// Store locks (flock): one store-wide lock, one per chain ID (unpacking), one per rootfs id.
// Order is always store -> rootfs -> chain, so no two holders can wait on each other.
// Waiting polls a non-blocking flock: a blocking flock would park a libuv pool thread per
// waiter, and the unpack that the waiter waits for needs those threads.
import { setTimeout as sleep } from 'node:timers/promises';
import { tryLockFile, type Lock } from '../sys/index.js';
import { AbortedError } from '../errors/index.js';
import type { StoreLayout } from './layout.js';

export type { Lock };

export async function acquireLock(path: string, mode: 'shared' | 'exclusive', signal?: AbortSignal): Promise<Lock> {
  let delay = 2;
  for (;;) {
    const lock = await tryLockFile(path, mode);
    if (lock) return lock;
    if (signal?.aborted) throw new AbortedError(`waiting for lock ${path} aborted`);
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}

export class StoreLocks {
  constructor(private readonly layout: StoreLayout) {}

  /** Shared for create/pull/delete; exclusive for clean, repair and delete-store. */
  store(mode: 'shared' | 'exclusive', signal?: AbortSignal): Promise<Lock> {
    return acquireLock(this.layout.storeLock(), mode, signal);
  }

  /** Exclusive, or undefined when another process holds the store lock in any mode. */
  tryStoreExclusive(): Promise<Lock | undefined> {
    return tryLockFile(this.layout.storeLock(), 'exclusive');
  }

  chain(key: string, signal?: AbortSignal): Promise<Lock> {
    return acquireLock(this.layout.chainLock(key), 'exclusive', signal);
  }

  rootfs(id: string, signal?: AbortSignal): Promise<Lock> {
    return acquireLock(this.layout.rootfsLock(id), 'exclusive', signal);
  }
}

/** Run fn holding lock, releasing it however fn ends. */
export async function withLock<T>(lock: Promise<Lock>, fn: () => Promise<T>): Promise<T> {
  const l = await lock;
  try {
    return await fn();
  } finally {
    await l.release();
  }
}
