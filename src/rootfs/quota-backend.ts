// The single point where the engine gets its quota backend: detected from the store's
// filesystem (src/quota), or forced by the caller.
import type { QuotaBackend } from '../quota/types.js';
import { detectQuotaBackend } from '../quota/index.js';

export type QuotaKind = QuotaBackend['kind'];

export function quotaBackendFor(storePath: string, kind?: QuotaKind): Promise<QuotaBackend> {
  return detectQuotaBackend(storePath, kind);
}
