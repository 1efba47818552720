// btrfs qgroups: each rootfs dir is its own subvolume (so its upper and work dirs are), and
// the subvolume's level-0 qgroup carries the limit. All through ioctls, no btrfs-progs.
//
// Numbers: the limit and the usage are on *referenced* bytes, which for a subvolume holding
// only an overlay upper equal its exclusive bytes, except that reflinked copy-ups still count.
// qgroup numbers are brought up to date at transaction commit, so usage() commits first.
// Writes are checked against the limit when space is reserved, so EDQUOT comes at once.
import { mkdir, lstat, rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { QuotaBackend } from './types.js';
import * as btrfs from '../sys/btrfs.js';
import { QuotaError, SyscallError } from '../errors/index.js';
import { logger } from '../log/index.js';

const log = logger('quota-btrfs');
const EBUSY = 16, ENOTEMPTY = 39;
/** A subvolume's root directory always has this inode number. */
const SUBVOL_ROOT_INO = 256;

export interface BtrfsBackendOptions {
  /** How long release() waits for the cleaner to drop a deleted subvolume before removing its qgroup. */
  dropWaitMs?: number;
}

export class BtrfsQuotaBackend implements QuotaBackend {
  readonly kind = 'btrfs' as const;
  constructor(readonly opts: BtrfsBackendOptions = {}) {}

  async assign(dir: string): Promise<void> {
    await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
    const st = await lstatOrUndefined(dir);
    if (st && isSubvolume(st)) return; // a re-run after a crash
    if (st) {
      // A plain dir left by an interrupted create: it must be empty to become a subvolume.
      try { await rmdir(dir); } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY') throw new QuotaError(`${dir} exists and is not a btrfs subvolume`);
        throw e;
      }
    }
    try {
      btrfs.createSubvolume(dir);
    } catch (e) {
      throw new QuotaError(`cannot create btrfs subvolume ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }

  async setLimit(dir: string, bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new QuotaError(`disk limit ${bytes} for ${dir} is not a whole number of bytes >= 0`);
    const id = await this.subvolume(dir);
    try {
      btrfs.limitQgroup(dir, id, bytes);
    } catch (e) {
      throw new QuotaError(`cannot limit qgroup 0/${id} of ${dir}: ${(e as Error).message}`, { cause: e });
    }
    // Inconsistent qgroups (another tool, a crash, an old groot) count nothing and refuse
    // nothing until a rescan: a limit set now would not hold.
    if (bytes > 0) this.rescanIfInconsistent(dir);
  }

  private rescanIfInconsistent(dir: string): void {
    let status: btrfs.QuotaStatus;
    try {
      status = btrfs.quotaStatus(dir);
    } catch (e) {
      throw new QuotaError(`cannot read the quota status of ${dir}: ${(e as Error).message}`, { cause: e });
    }
    if (!status.inconsistent) return;
    log.warn({ dir }, 'btrfs qgroups are inconsistent, so limits are not enforced: rescanning (this waits for the whole filesystem)');
    try {
      btrfs.rescanQuota(dir);
    } catch (e) {
      throw new QuotaError(`cannot rescan the qgroups of ${dir}, whose limits are not enforced until then: ${(e as Error).message}`, { cause: e });
    }
  }

  async usage(dir: string): Promise<number> {
    const id = await this.subvolume(dir);
    try {
      btrfs.btrfsSync(dir);
      const info = btrfs.qgroupInfo(dir, id);
      if (!info) throw new QuotaError(`${dir} (subvolume ${id}) has no qgroup: are quotas enabled on its filesystem?`);
      return info.referenced;
    } catch (e) {
      if (e instanceof QuotaError) throw e;
      throw new QuotaError(`cannot read qgroup 0/${id} of ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Delete the subvolume with everything in it, then its qgroup. The qgroup can only go once
   * the cleaner has dropped the subvolume *and* a commit has taken its last tree block off the
   * qgroup's numbers: the kernel marks every qgroup inconsistent when one is removed with
   * numbers left ("to be deleted qgroup 0/N has non-zero numbers", seen under load: the drop
   * ended between our commit and our look), and an inconsistent filesystem enforces no limit
   * until a rescan. So it goes only at zero. Past dropWaitMs a stale qgroup is left behind
   * (recent kernels remove it themselves once the subvolume is dropped), which costs nothing
   * but a tree item.
   */
  async release(dir: string): Promise<void> {
    const st = await lstatOrUndefined(dir);
    if (!st) return;
    if (!isSubvolume(st)) throw new QuotaError(`${dir} is not a btrfs subvolume: not releasing it`);
    const id = btrfs.subvolumeId(dir);
    const parent = dirname(dir);
    try {
      btrfs.deleteSubvolume(dir);
    } catch (e) {
      const busy = e instanceof SyscallError && (e.errno === EBUSY || e.errno === ENOTEMPTY);
      throw new QuotaError(`cannot delete btrfs subvolume ${dir}${busy ? ' (something is still mounted in it?)' : ''}: ${(e as Error).message}`, { cause: e });
    }
    const deadline = Date.now() + (this.opts.dropWaitMs ?? 10_000);
    for (;;) {
      btrfs.btrfsSync(parent);
      if (!btrfs.subvolumeExists(parent, id)) {
        const left = btrfs.qgroupInfo(parent, id);
        if (!left) return; // the kernel removed it with the subvolume
        if (left.referenced === 0 && left.exclusive === 0) break;
      }
      if (Date.now() > deadline) {
        log.info({ dir, subvolume: String(id) }, 'subvolume still being dropped; its qgroup stays until then');
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      btrfs.destroyQgroup(parent, id);
    } catch (e) {
      log.warn({ dir, qgroup: `0/${id}`, err: (e as Error).message }, 'could not remove the qgroup of a deleted subvolume');
    }
  }

  private async subvolume(dir: string): Promise<bigint> {
    const st = await lstatOrUndefined(dir);
    if (!st) throw new QuotaError(`${dir} does not exist: the quota was never assigned`);
    if (!isSubvolume(st)) throw new QuotaError(`${dir} is not a btrfs subvolume: the quota was never assigned`);
    return btrfs.subvolumeId(dir);
  }
}

function isSubvolume(st: { ino: number; isDirectory(): boolean }): boolean {
  return st.isDirectory() && st.ino === SUBVOL_ROOT_INO;
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

