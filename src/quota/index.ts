// Picks the quota backend a store's filesystem can enforce.
import type { QuotaBackend } from './types.js';
import { XfsQuotaBackend } from './xfs.js';
import { BtrfsQuotaBackend } from './btrfs.js';
import { NoneQuota } from './none.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mountOf } from '../sys/mount.js';
import { writeJsonAtomic } from '../sys/fsync.js';
import { quotaStatus } from '../sys/btrfs.js';
import { QuotaError } from '../errors/index.js';
import { logger } from '../log/index.js';

export type { QuotaBackend } from './types.js';
export { XfsQuotaBackend } from './xfs.js';
export { BtrfsQuotaBackend } from './btrfs.js';
export { NoneQuota } from './none.js';

const log = logger('quota');

export type QuotaKind = QuotaBackend['kind'];

export interface QuotaDetection {
  kind: QuotaKind;
  /** Why: the filesystem, and what it lacks when quotas are off. */
  reason: string;
  fstype: string;
  mountpoint: string;
}

/** Mount option words that turn on enforced project quotas (XFS: prjquota/pquota; ext4: prjquota). */
function hasProjectQuota(options: string): boolean {
  return options.split(',').some((o) => o === 'prjquota' || o === 'pquota');
}

/** What the filesystem holding storePath can enforce, from its type and mount options. */
export async function detectQuota(storePath: string): Promise<QuotaDetection> {
  const m = await mountOf(storePath);
  if (!m) return { kind: 'none', reason: `no mount holds ${storePath}`, fstype: 'unknown', mountpoint: '' };
  const base = { fstype: m.fstype, mountpoint: m.mountpoint };
  const opts = `${m.options},${m.superOptions}`;
  switch (m.fstype) {
    case 'xfs':
    case 'ext4':
      if (hasProjectQuota(opts)) return { ...base, kind: 'xfs', reason: `${m.fstype} mounted with project quotas at ${m.mountpoint}` };
      return { ...base, kind: 'none', reason: `${m.fstype} at ${m.mountpoint} is not mounted with prjquota` };
    case 'btrfs': {
      let enabled = false;
      try {
        enabled = quotaStatus(storePath).enabled;
      } catch (e) {
        return { ...base, kind: 'none', reason: `cannot read btrfs quota status at ${m.mountpoint}: ${(e as Error).message}` };
      }
      if (enabled) return { ...base, kind: 'btrfs', reason: `btrfs with quotas enabled at ${m.mountpoint}` };
      return { ...base, kind: 'none', reason: `btrfs at ${m.mountpoint} has quotas disabled (btrfs quota enable)` };
    }
    default:
      return { ...base, kind: 'none', reason: `${m.fstype} at ${m.mountpoint} has no project quotas or qgroups` };
  }
}

const warned = new Set<string>();

/**
 * Say that a store's quotas are off, and why, once: the first time in this process and, across
 * processes (one per CLI command), only when it changes, by remembering it in meta/quota.json.
 */
export async function warnQuotasOff(storePath: string, reason: string): Promise<void> {
  if (warned.has(storePath)) return;
  warned.add(storePath);
  const file = join(storePath, 'meta', 'quota.json');
  let said: { reason?: string } | undefined;
  try { said = JSON.parse(readFileSync(file, 'utf8')); } catch { said = undefined; }
  if (said?.reason === reason) {
    log.debug({ store: storePath, reason }, 'disk quotas are off for this store');
    return;
  }
  log.warn({ store: storePath, reason }, 'disk quotas are off for this store: limits are recorded but not enforced');
  // A memo, not a record: lost in a crash, the warning is given once more.
  try { await writeJsonAtomic(file, { kind: 'none', reason }, { sync: false }); } catch { /* a read-only or missing store: say it again next time */ }
}

/** The backend for a store: detected from its filesystem, or forced (an error when it cannot work). */
export async function detectQuotaBackend(storePath: string, force?: QuotaKind): Promise<QuotaBackend> {
  const d = await detectQuota(storePath);
  const kind = force ?? d.kind;
  if (force && force !== 'none' && force !== d.kind) {
    throw new QuotaError(`quota backend ${force} cannot work on store ${storePath}: ${d.reason}`);
  }
  switch (kind) {
    case 'xfs': return new XfsQuotaBackend({ storePath });
    case 'btrfs': return new BtrfsQuotaBackend();
    default:
      if (!force) await warnQuotasOff(storePath, d.reason);
      return new NoneQuota();
  }
}
