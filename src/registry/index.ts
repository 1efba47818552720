// Registry sources (docker://): the OCI distribution API on undici. image/ dispatches here.
import type { ImageSource, SourceOptions } from '../image/types.js';
import type { RegistryOptions } from './options.js';
import { RegistrySource } from './source.js';

export { RegistrySource } from './source.js';
export type { RegistryOptions, RegistryTuning } from './options.js';
export { CODES as REGISTRY_ERROR_CODES } from './net-errors.js';
export { parseChallenges } from './auth.js';
export { loadCredentialsFile, normalizeHost } from './credentials.js';

export function registrySource(source: string, opts: SourceOptions | RegistryOptions = {}): ImageSource {
  return new RegistrySource(source, opts);
}
