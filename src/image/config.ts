// Image config parsing: the fields groot uses (env, user, cwd, diff IDs) checked, the rest kept raw.
import { InvalidImageError } from '../errors/index.js';
import { digestProblem } from './digest.js';
import { MAX_CONFIG_BYTES, parseJsonObject, type ImageManifest } from './manifest.js';
import type { ImageConfig, Platform } from './types.js';

export interface ParsedConfig extends ImageConfig {
  /** rootfs.diff_ids: digests of the uncompressed layer tars, base first. */
  diffIDs: string[];
  /** os/architecture/variant the config declares, when it declares them. */
  platform?: Platform;
}

function invalid(where: string, problem: string): InvalidImageError {
  return new InvalidImageError(`${where}: image config ${problem}`);
}

export function parseConfig(bytes: Uint8Array | string, where = 'image'): ParsedConfig {
  const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (length > MAX_CONFIG_BYTES) throw invalid(where, `is ${length} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  const raw = parseJsonObject(bytes, where, 'image config');
  const rootfs = raw.rootfs as Record<string, unknown> | undefined;
  if (typeof rootfs !== 'object' || rootfs === null) throw invalid(where, 'has no rootfs section');
  if (rootfs.type !== 'layers') throw invalid(where, `rootfs.type is ${JSON.stringify(rootfs.type)}, want "layers"`);
  const ids = rootfs.diff_ids ?? [];
  if (!Array.isArray(ids)) throw invalid(where, 'rootfs.diff_ids is not an array');
  ids.forEach((d, i) => {
    const problem = digestProblem(d);
    if (problem) throw invalid(where, `rootfs.diff_ids[${i}] ${JSON.stringify(d)} ${problem}`);
  });

  // "config" may be absent or null (umoci new, scratch images): no env, root user, no cwd.
  const c = (raw.config ?? {}) as Record<string, unknown>;
  if (typeof c !== 'object' || Array.isArray(c)) throw invalid(where, '"config" is not an object');
  const env = c.Env ?? [];
  if (!Array.isArray(env) || env.some((e) => typeof e !== 'string')) throw invalid(where, 'config.Env is not an array of strings');
  const user = c.User ?? '';
  if (typeof user !== 'string') throw invalid(where, 'config.User is not a string');
  const workingDir = c.WorkingDir ?? '';
  if (typeof workingDir !== 'string') throw invalid(where, 'config.WorkingDir is not a string');

  const parsed: ParsedConfig = { env: env as string[], user, workingDir, raw, diffIDs: ids as string[] };
  if (typeof raw.os === 'string' && typeof raw.architecture === 'string') {
    parsed.platform = { os: raw.os, architecture: raw.architecture, ...(typeof raw.variant === 'string' && raw.variant ? { variant: raw.variant } : {}) };
  }
  return parsed;
}

/** A manifest and its config must agree on the number of layers. */
export function checkLayerCount(config: ParsedConfig, manifest: ImageManifest, where = 'image'): void {
  if (config.diffIDs.length !== manifest.layers.length) {
    throw new InvalidImageError(
      `${where}: manifest lists ${manifest.layers.length} layers but its config has ${config.diffIDs.length} rootfs.diff_ids`,
    );
  }
}
