// `create` and `pull` flags merged over the config file, GrootFS's way: a flag that is
// given wins, otherwise the file's value, otherwise the default. Pure, so it is unit tested.
import { InvalidArgumentError } from '../errors/index.js';
import type { Credentials, Platform } from '../image/types.js';
import { parseBytes, parseCount, parsePlatform } from './args.js';
import type { GrootfsConfig } from './config.js';
import { parseMirrorFlags } from '../registry/mirror-url.js';

/** Source flags shared by `create` and `pull`, as commander hands them over. */
export interface SourceFlags {
  username?: string;
  password?: string;
  insecureRegistry?: string[];
  skipLayerValidation?: boolean;
  platform?: string;
  /** HOST=URL, repeatable. */
  registryMirror?: string[];
  credentialsFile?: string;
  layerConcurrency?: string;
}

export interface CreateFlags extends SourceFlags {
  diskLimitSizeBytes?: string;
  excludeImageFromQuota?: boolean;
  withClean?: boolean;
  withoutClean?: boolean;
  thresholdBytes?: string;
  withMount?: boolean;
  withoutMount?: boolean;
}

export interface SourceSettings {
  credentials?: Credentials;
  insecureRegistries: string[];
  /** Only ever true for `oci:` sources: GrootFS ignores the flag for registries and tarballs. */
  skipLayerValidation: boolean;
  platform?: Platform;
  mirrors?: Record<string, string[]>;
  credentialsFile?: string;
  concurrency?: number;
}

export interface CreateSettings extends SourceSettings {
  diskLimitBytes: number;
  excludeImageFromQuota: boolean;
  mount: boolean;
  clean: boolean;
  thresholdBytes: number;
}

export function resolveSourceSettings(config: GrootfsConfig, flags: SourceFlags, source: string): SourceSettings {
  const insecure = flags.insecureRegistry?.length ? flags.insecureRegistry : config.create.insecureRegistries;
  const skip = (flags.skipLayerValidation ?? config.create.skipLayerValidation) && source.startsWith('oci:');
  if (flags.password !== undefined && !flags.username) throw new InvalidArgumentError('invalid arguments: --password needs --username');
  const mirrors = flags.registryMirror?.length ? parseMirrorFlags('--registry-mirror', flags.registryMirror) : config.create.registryMirrors;
  const credentialsFile = flags.credentialsFile ?? config.create.credentialsFile;
  const concurrency = flags.layerConcurrency !== undefined ? parseCount('--layer-concurrency', flags.layerConcurrency, 'layers') : config.create.layerConcurrency;
  return {
    ...(flags.username ? { credentials: { username: flags.username, password: flags.password ?? '' } } : {}),
    insecureRegistries: [...insecure],
    skipLayerValidation: skip,
    ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
    ...(Object.keys(mirrors).length > 0 ? { mirrors } : {}),
    ...(credentialsFile ? { credentialsFile } : {}),
    ...(concurrency > 0 ? { concurrency } : {}),
  };
}

export function resolveCreateSettings(config: GrootfsConfig, flags: CreateFlags, source: string): CreateSettings {
  if (flags.withClean && flags.withoutClean) throw new InvalidArgumentError('with-clean and without-clean cannot be used together');
  if (flags.withMount && flags.withoutMount) throw new InvalidArgumentError('with-mount and without-mount cannot be used together');
  const c = config.create;
  return {
    ...resolveSourceSettings(config, flags, source),
    diskLimitBytes: flags.diskLimitSizeBytes !== undefined ? parseBytes('--disk-limit-size-bytes', flags.diskLimitSizeBytes) : c.diskLimitSizeBytes,
    excludeImageFromQuota: flags.excludeImageFromQuota ? true : c.excludeImageFromQuota,
    mount: flags.withMount ? true : flags.withoutMount ? false : !c.withoutMount,
    clean: flags.withClean ? true : flags.withoutClean ? false : c.withClean,
    thresholdBytes: flags.thresholdBytes !== undefined ? parseBytes('--threshold-bytes', flags.thresholdBytes) : config.clean.thresholdBytes,
  };
}
