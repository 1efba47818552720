// The grootfs config file (`--config FILE`): the same YAML keys GrootFS reads, so an
// existing Garden deployment's config works unchanged. Flags override the file; the file
// overrides the defaults. Unknown keys are tolerated (reported, not fatal).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { InvalidArgumentError } from '../errors/index.js';
import { checkMirrorMap } from '../registry/mirror-url.js';

// yaml takes ~50 ms to load: only a process given --config pays for it (parseConfig stays sync).
const yaml = () => createRequire(import.meta.url)('yaml') as typeof import('yaml');

export const DEFAULT_STORE = '/var/lib/groot';

export interface CreateConfig {
  diskLimitSizeBytes: number;
  excludeImageFromQuota: boolean;
  skipLayerValidation: boolean;
  withClean: boolean;
  withoutMount: boolean;
  insecureRegistries: string[];
  /** registry host -> mirror base URLs tried before it (groot's own key). */
  registryMirrors: Record<string, string[]>;
  /** A Docker config.json-style credentials file (groot's own key). */
  credentialsFile?: string;
  /** Layers downloaded and unpacked at once (groot's own key; 0 = the default, 4). */
  layerConcurrency: number;
  /** Accepted for compatibility; groot verifies TLS with the system CAs. */
  remoteLayerClientCertificatesPath?: string;
}

export interface GrootfsConfig {
  store: string;
  logLevel?: string;
  logFile?: string;
  /** GrootFS helper binaries: accepted and ignored (groot needs no helpers). */
  tardisBin?: string;
  newuidmapBin?: string;
  newgidmapBin?: string;
  metronEndpoint?: string;
  create: CreateConfig;
  clean: { thresholdBytes: number };
  init: { storeSizeBytes: number; withDirectIO: boolean; storeFs: 'xfs' | 'btrfs' };
}

export interface LoadedConfig {
  config: GrootfsConfig;
  /** Dotted paths of keys groot does not know (e.g. `create.colour`). */
  unknownKeys: string[];
}

export function defaultConfig(): GrootfsConfig {
  return {
    store: DEFAULT_STORE,
    create: {
      diskLimitSizeBytes: 0, excludeImageFromQuota: false, skipLayerValidation: false,
      withClean: false, withoutMount: false, insecureRegistries: [], registryMirrors: {}, layerConcurrency: 0,
    },
    clean: { thresholdBytes: 0 },
    init: { storeSizeBytes: 0, withDirectIO: false, storeFs: 'xfs' },
  };
}

type Kind = 'string' | 'bool' | 'bytes' | 'strings' | 'mirrors';
// YAML key -> [kind, setter]. One table keeps the key names in one place.
type Field = [Kind, (c: GrootfsConfig, v: never) => void];
const TOP: Record<string, Field> = {
  store: ['string', (c, v: string) => { c.store = v; }],
  log_level: ['string', (c, v: string) => { c.logLevel = v; }],
  log_file: ['string', (c, v: string) => { c.logFile = v; }],
  tardis_bin: ['string', (c, v: string) => { c.tardisBin = v; }],
  newuidmap_bin: ['string', (c, v: string) => { c.newuidmapBin = v; }],
  newgidmap_bin: ['string', (c, v: string) => { c.newgidmapBin = v; }],
  metron_endpoint: ['string', (c, v: string) => { c.metronEndpoint = v; }],
};
const SECTIONS: Record<string, Record<string, Field>> = {
  create: {
    disk_limit_size_bytes: ['bytes', (c, v: number) => { c.create.diskLimitSizeBytes = v; }],
    exclude_image_from_quota: ['bool', (c, v: boolean) => { c.create.excludeImageFromQuota = v; }],
    skip_layer_validation: ['bool', (c, v: boolean) => { c.create.skipLayerValidation = v; }],
    with_clean: ['bool', (c, v: boolean) => { c.create.withClean = v; }],
    without_mount: ['bool', (c, v: boolean) => { c.create.withoutMount = v; }],
    insecure_registries: ['strings', (c, v: string[]) => { c.create.insecureRegistries = v; }],
    registry_mirrors: ['mirrors', (c, v: Record<string, string[]>) => { c.create.registryMirrors = v; }],
    credentials_file: ['string', (c, v: string) => { c.create.credentialsFile = v; }],
    layer_concurrency: ['bytes', (c, v: number) => { c.create.layerConcurrency = v; }],
    remote_layer_client_certificates_path: ['string', (c, v: string) => { c.create.remoteLayerClientCertificatesPath = v; }],
  },
  clean: {
    threshold_bytes: ['bytes', (c, v: number) => { c.clean.thresholdBytes = v; }],
  },
  init: {
    store_size_bytes: ['bytes', (c, v: number) => { c.init.storeSizeBytes = v; }],
    with_direct_io: ['bool', (c, v: boolean) => { c.init.withDirectIO = v; }],
    // groot's own key (GrootFS only formats XFS): the backing filesystem for --store-size-bytes.
    store_fs: ['string', (c, v: string) => { c.init.storeFs = storeFsOf('init.store_fs', v); }],
  },
};

const OTHER_SECTION = 'controller';

/** Read and check a config file. Errors name the file and the key. */
export async function loadConfigFile(path: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InvalidArgumentError(`invalid config path ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
  }
  return parseConfig(text, path);
}

/** Parse config YAML text; `source` names it in error messages. */
export function parseConfig(text: string, source: string): LoadedConfig {
  const doc = yaml().parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0] ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '';
    // The pretty message repeats the position and quotes the text: keep the first clause.
    const msg = firstLine(e.message).replace(/ at line \d+, column \d+:?$/, '');
    throw new InvalidArgumentError(`invalid config file ${source}: malformed YAML${pos}: ${msg}`);
  }
  const raw: unknown = doc.toJS();
  const config = defaultConfig();
  const unknownKeys: string[] = [];
  if (raw === null || raw === undefined) return { config, unknownKeys };
  if (!isMap(raw)) throw new InvalidArgumentError(`invalid config file ${source}: the top level must be a mapping of keys, not ${describe(raw)}`);

  for (const [key, value] of Object.entries(raw)) {
    if (key in SECTIONS) {
      if (value === null || value === undefined) continue;
      if (!isMap(value)) throw new InvalidArgumentError(`invalid config file ${source}: ${key} must be a mapping, not ${describe(value)}`);
      for (const [sub, v] of Object.entries(value)) {
        const field = SECTIONS[key][sub];
        if (!field) { unknownKeys.push(`${key}.${sub}`); continue; }
        apply(config, field, v, `${key}.${sub}`, source);
      }
    } else if (key in TOP) {
      apply(config, TOP[key], value, key, source);
    } else if (key === OTHER_SECTION) {
      // groot's own controller settings share the file; src/controller/config.ts reads them.
    } else {
      unknownKeys.push(key);
    }
  }
  return { config, unknownKeys };
}

function apply(config: GrootfsConfig, [kind, set]: Field, value: unknown, key: string, source: string): void {
  if (value === null || value === undefined) return; // `key:` with no value keeps the default
  const bad = (what: string) => new InvalidArgumentError(`invalid config file ${source}: ${key} must be ${what}, not ${describe(value)}`);
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') throw bad('a string');
      (set as (c: GrootfsConfig, v: string) => void)(config, value);
      return;
    case 'bool':
      if (typeof value !== 'boolean') throw bad('true or false');
      (set as (c: GrootfsConfig, v: boolean) => void)(config, value);
      return;
    case 'bytes':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw bad('a whole number of bytes');
      if (value < 0) throw new InvalidArgumentError(`invalid config file ${source}: ${key} cannot be negative (${value})`);
      (set as (c: GrootfsConfig, v: number) => void)(config, value);
      return;
    case 'strings':
      if (!Array.isArray(value) || !value.every((x) => typeof x === 'string')) throw bad('a list of strings');
      (set as (c: GrootfsConfig, v: string[]) => void)(config, value as string[]);
      return;
    case 'mirrors':
      // registry_mirrors: {docker.io: [https://mirror.example.com], ...}
      if (!isMap(value)) throw bad('a mapping of registry host to a list of mirror URLs');
      (set as (c: GrootfsConfig, v: Record<string, string[]>) => void)(config, checkMirrorMap(value, key, `config file ${source}`));
      return;
  }
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}

export function storeFsOf(what: string, v: string): 'xfs' | 'btrfs' {
  if (v !== 'xfs' && v !== 'btrfs') throw new InvalidArgumentError(`${what}: ${JSON.stringify(v)} is not one of xfs, btrfs`);
  return v;
}
