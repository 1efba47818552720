// Sources as plain data for worker threads (ImageSource.portable): the options a caller
// passed, less what cannot cross a thread (callbacks, the abort signal, class instances).
import type { PortableSource, SourceOptions } from './types.js';

function isData(v: unknown): boolean {
  if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return true;
  if (Array.isArray(v)) return v.every(isData);
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.values(v as object).every(isData);
  return false;
}

/** `source` with those of `options` that are plain data (undefined values dropped). */
export function portableSource(source: string, options: object): PortableSource {
  const kept = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined && isData(v)));
  return { source, options: kept as SourceOptions };
}
