// The single point where the engine gets its quota backend.
// TODO(quota): when src/quota/index.ts lands, call its detectQuotaBackend(storePath) here
// for `kind === undefined` (and build xfs/btrfs on request); until then only `none` exists.
import type { QuotaBackend } from '../quota/types.js';
import { NoneQuota } from '../quota/none.js';
import { QuotaError } from '../errors/index.js';

export type QuotaKind = QuotaBackend['kind'];

export async function quotaBackendFor(storePath: string, kind?: QuotaKind): Promise<QuotaBackend> {
  if (kind === undefined || kind === 'none') return new NoneQuota();
  throw new QuotaError(`store ${storePath}: quota backend "${kind}" is not available in this build`);
}
