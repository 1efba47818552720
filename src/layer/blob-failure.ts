import { AbortedError, GrootError, InvalidLayerError } from '../errors/index.js';

/**
 * What a failed blob open or read means, worded as applyLayer words it: an abort is the
 * abort (the stream only failed because of it), a GrootError (the registry's) stands as it
 * is, anything else names the layer.
 */
export function blobFailure(e: unknown, label: string, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && !(e instanceof GrootError && e.code !== 'GROOT_ABORTED')) {
    return e instanceof AbortedError ? e : new AbortedError(`${label}: unpack aborted`, { cause: signal.reason });
  }
  if (e instanceof GrootError) return e;
  return new InvalidLayerError(`${label}: reading the layer failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
