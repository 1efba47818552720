// Controller settings: flags override the config file's `controller:` section, which
// overrides the defaults. Errors name the file and the key.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { InvalidArgumentError } from '../errors/index.js';
import { checkMirrorMap } from '../registry/mirror-url.js';

export interface ControllerSettings {
  dropins?: string;
  kube: boolean;
  kubeconfig?: string;
  node: string;
  metricsAddress: string;
  resyncSeconds: number;
  usageSeconds: number;
  gcThresholdBytes?: number;
  gcIntervalSeconds: number;
  pullConcurrency: number;
  rootfsConcurrency: number;
  shutdownTimeoutSeconds: number;
  /** Kubernetes objects may name local sources (oci: layouts, tarballs) only under these. */
  localSourceDirs: string[];
  /** Kubernetes objects' `insecure: true` counts only for these registries ("host" or "host:port"). */
  insecureRegistries: string[];
  /** registry host -> mirror base URLs tried before it, for every pull. */
  registryMirrors: Record<string, string[]>;
  /** Layers of one image downloaded and unpacked at once (the engine's default when unset). */
  layerConcurrency?: number;
  /** A Docker config.json-style file for registries no object brings credentials for. */
  credentialsFile?: string;
}

export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9476';

export function defaultControllerSettings(): ControllerSettings {
  return {
    kube: false, node: defaultNodeName(), metricsAddress: DEFAULT_METRICS_ADDRESS, resyncSeconds: 600, usageSeconds: 60,
    gcIntervalSeconds: 60, pullConcurrency: 2, rootfsConcurrency: 4, shutdownTimeoutSeconds: 30,
    localSourceDirs: [], insecureRegistries: [], registryMirrors: {},
  };
}

/** NODE_NAME (the DaemonSet sets it from the downward API), else the host name. */
export function defaultNodeName(): string {
  return process.env.NODE_NAME || hostname();
}

type Setter = [kind: 'string' | 'bool' | 'count' | 'bytes' | 'seconds' | 'strings' | 'mirrors', set: (s: ControllerSettings, v: never) => void];
const KEYS: Record<string, Setter> = {
  dropins: ['string', (s, v: string) => { s.dropins = v; }],
  kube: ['bool', (s, v: boolean) => { s.kube = v; }],
  kubeconfig: ['string', (s, v: string) => { s.kubeconfig = v; }],
  node: ['string', (s, v: string) => { s.node = v; }],
  metrics_address: ['string', (s, v: string) => { s.metricsAddress = v; }],
  resync_period_seconds: ['seconds', (s, v: number) => { s.resyncSeconds = v; }],
  usage_period_seconds: ['seconds', (s, v: number) => { s.usageSeconds = v; }],
  gc_threshold_bytes: ['bytes', (s, v: number) => { s.gcThresholdBytes = v; }],
  gc_interval_seconds: ['seconds', (s, v: number) => { s.gcIntervalSeconds = v; }],
  pull_concurrency: ['count', (s, v: number) => { s.pullConcurrency = v; }],
  rootfs_concurrency: ['count', (s, v: number) => { s.rootfsConcurrency = v; }],
  shutdown_timeout_seconds: ['seconds', (s, v: number) => { s.shutdownTimeoutSeconds = v; }],
  local_source_dirs: ['strings', (s, v: string[]) => { s.localSourceDirs = v; }],
  insecure_registries: ['strings', (s, v: string[]) => { s.insecureRegistries = v; }],
  registry_mirrors: ['mirrors', (s, v: Record<string, string[]>) => { s.registryMirrors = v; }],
  layer_concurrency: ['count', (s, v: number) => { s.layerConcurrency = v; }],
  credentials_file: ['string', (s, v: string) => { s.credentialsFile = v; }],
};

export function checkValue(kind: Setter[0], key: string, v: unknown, where: string): unknown {
  const bad = (what: string) => new InvalidArgumentError(`${where}: ${key} must be ${what}, got ${JSON.stringify(v)}`);
  switch (kind) {
    case 'string': if (typeof v !== 'string' || v === '') throw bad('a non-empty string'); return v;
    case 'bool': if (typeof v !== 'boolean') throw bad('true or false'); return v;
    case 'count': if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad('a whole number >= 1'); return v;
    case 'bytes': if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad('a whole number of bytes >= 0'); return v;
    case 'seconds': if (typeof v !== 'number' || !(v > 0)) throw bad('a number of seconds > 0'); return v;
    case 'strings': if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) throw bad('a list of non-empty strings'); return v;
    case 'mirrors': return checkMirrorMap(v, key, where.replace(/^invalid /, ''));
  }
}

/** Apply the `controller:` section of a config file. */
export async function applyConfigFile(s: ControllerSettings, path: string): Promise<void> {
  let raw: unknown;
  // yaml (~50 ms to load) only when there is a config file to read.
  const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  try { raw = parse(await readFile(path, 'utf8')); } catch (e) {
    throw new InvalidArgumentError(`invalid config file ${path}: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  const sec = raw && typeof raw === 'object' ? (raw as Record<string, unknown>).controller : undefined;
  if (sec === undefined || sec === null) return;
  if (typeof sec !== 'object' || Array.isArray(sec)) throw new InvalidArgumentError(`invalid config file ${path}: controller must be a mapping`);
  for (const [k, v] of Object.entries(sec)) {
    const f = KEYS[k];
    if (!f) throw new InvalidArgumentError(`invalid config file ${path}: controller.${k} is not a known key (known: ${Object.keys(KEYS).join(', ')})`);
    if (v === null || v === undefined) continue;
    (f[1] as (s: ControllerSettings, v: unknown) => void)(s, checkValue(f[0], `controller.${k}`, v, `invalid config file ${path}`));
  }
}
