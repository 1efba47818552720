// `groot controller`, `groot get`, `groot describe`. Not part of the grootfs contract:
// errors go to stderr here, exit code 1. main.ts registers these for every process, so
// controller/, api/ and get/describe load only inside the actions (grootfs start-up time).
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { configureLogging, logger } from '../log/index.js';
import { InvalidArgumentError, messageOf } from '../errors/index.js';
import { ensureGlobalOptions, globalFlags } from './global-options.js';
import { defaultConfig, loadConfigFile, type GrootfsConfig } from './config.js';
import { parseMirrorFlags } from '../registry/mirror-url.js';
import { checkLogLevel, collect } from './args.js';
import type { ControllerSettings } from '../controller/config.js';

const log = logger('cli');

/** The example drop-ins shipped with groot: the controller's source when none is given. */
export const EXAMPLE_DROPINS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'dropins');

interface ControllerFlags {
  dropins?: string; kube?: boolean; kubeconfig?: string; node?: string; metricsAddress?: string;
  resyncPeriod?: string; gcThresholdBytes?: string; pullConcurrency?: string; rootfsConcurrency?: string; shutdownTimeout?: string;
  localSourceDir?: string[]; insecureRegistry?: string[];
  registryMirror?: string[]; layerConcurrency?: string; credentialsFile?: string;
}

/**
 * The example drop-ins name the example OCI layout (examples/busybox), built offline from
 * busybox-static by hack/build-example-image.mjs: build it when it is missing.
 */
function ensureExampleImage(): void {
  const root = join(EXAMPLE_DROPINS, '..', '..');
  const script = join(root, 'hack', 'build-example-image.mjs');
  if (existsSync(join(root, 'examples', 'busybox', 'index.json')) || !existsSync(script)) return;
  log.warn({ script }, 'building the example image the example drop-ins use (no network needed)');
  const r = spawnSync(process.execPath, [script], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) log.error({ script, status: r.status }, 'building the example image failed: the example Image will report why it cannot pull');
}

async function base(cmd: Command): Promise<{ store: string; config?: string; gcDefault: number; create: GrootfsConfig['create'] }> {
  const g = globalFlags(cmd);
  let cfg = defaultConfig();
  if (g.config) cfg = (await loadConfigFile(g.config)).config;
  const store = resolve(g.store ?? cfg.store);
  const level = g.logLevel !== undefined ? checkLogLevel(g.logLevel, '--log-level') : cfg.logLevel;
  configureLogging({ level, file: g.logFile ?? cfg.logFile });
  return { store, config: g.config, gcDefault: cfg.clean.thresholdBytes, create: cfg.create };
}

export async function controllerSettings(cmd: Command, f: ControllerFlags): Promise<{ store: string; settings: ControllerSettings }> {
  const b = await base(cmd);
  const { applyConfigFile, checkValue, defaultControllerSettings } = await import('../controller/config.js');
  const num = (kind: 'count' | 'bytes' | 'seconds', flag: string, v: string) => {
    const n = Number(v);
    if (v.trim() === '' || Number.isNaN(n)) throw new InvalidArgumentError(`${flag} ${JSON.stringify(v)}: not a number`);
    return checkValue(kind, flag, n, 'invalid argument') as number;
  };
  const s = defaultControllerSettings();
  if (b.gcDefault > 0) s.gcThresholdBytes = b.gcDefault; // GrootFS's clean.threshold_bytes
  // Hosts the operator already calls insecure for the CLI (create.insecure_registries).
  s.insecureRegistries = [...b.create.insecureRegistries];
  // And the registry settings the CLI's pulls use (create.registry_mirrors, ...).
  s.registryMirrors = { ...b.create.registryMirrors };
  if (b.create.layerConcurrency > 0) s.layerConcurrency = b.create.layerConcurrency;
  if (b.create.credentialsFile) s.credentialsFile = b.create.credentialsFile;
  if (b.config) await applyConfigFile(s, b.config);
  if (f.dropins !== undefined) s.dropins = resolve(f.dropins);
  if (f.kube) s.kube = true;
  if (f.kubeconfig !== undefined) { s.kubeconfig = resolve(f.kubeconfig); s.kube = true; }
  if (f.node !== undefined) s.node = checkValue('string', '--node', f.node, 'invalid argument') as string;
  if (f.metricsAddress !== undefined) s.metricsAddress = f.metricsAddress;
  if (f.resyncPeriod !== undefined) s.resyncSeconds = num('seconds', '--resync-period', f.resyncPeriod);
  if (f.gcThresholdBytes !== undefined) s.gcThresholdBytes = num('bytes', '--gc-threshold-bytes', f.gcThresholdBytes);
  if (f.pullConcurrency !== undefined) s.pullConcurrency = num('count', '--pull-concurrency', f.pullConcurrency);
  if (f.rootfsConcurrency !== undefined) s.rootfsConcurrency = num('count', '--rootfs-concurrency', f.rootfsConcurrency);
  if (f.shutdownTimeout !== undefined) s.shutdownTimeoutSeconds = num('seconds', '--shutdown-timeout', f.shutdownTimeout);
  // Repeatable flags replace the file's list (as --insecure-registry does for create).
  if (f.localSourceDir?.length) s.localSourceDirs = f.localSourceDir.map((d) => checkValue('string', '--local-source-dir', d, 'invalid argument') as string);
  if (f.insecureRegistry?.length) s.insecureRegistries = f.insecureRegistry.map((h) => checkValue('string', '--insecure-registry', h, 'invalid argument') as string);
  if (f.registryMirror?.length) s.registryMirrors = parseMirrorFlags('--registry-mirror', f.registryMirror);
  if (f.layerConcurrency !== undefined) s.layerConcurrency = num('count', '--layer-concurrency', f.layerConcurrency);
  if (f.credentialsFile !== undefined) s.credentialsFile = f.credentialsFile;
  if (s.credentialsFile) s.credentialsFile = resolve(s.credentialsFile);
  s.localSourceDirs = s.localSourceDirs.map((d) => resolve(d));
  if (!s.kube && !s.dropins) {
    s.dropins = EXAMPLE_DROPINS;
    log.warn({ dropins: s.dropins }, 'no --dropins or --kube given: using the example drop-ins');
    ensureExampleImage();
  }
  if (s.dropins) s.dropins = resolve(s.dropins);
  if (!s.kube && s.localSourceDirs.length) log.warn({ localSourceDirs: s.localSourceDirs }, 'local_source_dirs only limit objects from the Kubernetes API: drop-in objects may name any source');
  return { store: b.store, settings: s };
}

function fail(e: unknown): void {
  process.stderr.write(`error: ${messageOf(e)}\n`);
  process.exitCode = 1;
}

export function registerControllerCommands(program: Command): void {
  ensureGlobalOptions(program);

  program.command('controller')
    .description('Reconcile Image and RootFS objects from drop-in YAML files or the Kubernetes API (runs until SIGTERM)')
    .option('--dropins <dir>', 'directory of *.yaml/*.yml Image and RootFS objects, watched (default without --kube: the example drop-ins)')
    .option('--kube', 'watch Image and RootFS objects in Kubernetes (in-cluster config, or --kubeconfig)')
    .option('--kubeconfig <file>', 'kubeconfig file for --kube')
    .option('--node <name>', 'node name: only objects labelled groot.dev/node=<name> (default: $NODE_NAME or the host name)')
    .option('--metrics-address <host:port>', '/metrics, /healthz, /readyz listen address ("off" to disable; default 127.0.0.1:9476)')
    .option('--resync-period <seconds>', 'full resync period; pullPolicy Always images are re-resolved this often (default 600)')
    .option('--gc-threshold-bytes <n>', 'garbage-collect when the store uses more than this (default: clean.threshold_bytes; none when 0 or unset)')
    .option('--pull-concurrency <n>', 'Image pulls at once (default 2)')
    .option('--rootfs-concurrency <n>', 'RootFS operations at once (default 4)')
    .option('--shutdown-timeout <seconds>', 'on SIGTERM, wait this long for in-flight work before aborting it (default 30)')
    .option('--local-source-dir <dir>', 'with --kube: objects may name local sources (oci: layouts, tarballs) under this directory (repeatable; default none)', collect)
    .option('--insecure-registry <host>', 'with --kube: an object\'s spec.insecure is honoured for this registry (repeatable; default: create.insecure_registries)', collect)
    .option('--registry-mirror <host=url>', 'mirror tried before the registry HOST, for every pull (repeatable; default: create.registry_mirrors)', collect)
    .option('--layer-concurrency <n>', 'layers of one image downloaded and unpacked at once (default: create.layer_concurrency, else 6)')
    .option('--credentials-file <path>', 'Docker config.json-style credentials for registries no object brings its own for (default: create.credentials_file)')
    .action(async (f: ControllerFlags, cmd: Command) => {
      try {
        const { store, settings } = await controllerSettings(cmd, f);
        const { runController } = await import('../controller/run.js');
        const { defaultDeps } = await import('./grootfs.js');
        const running = await runController({ storePath: store, settings, openEngine: defaultDeps().openEngine, handleSignals: true });
        await running.done;
      } catch (e) {
        fail(e);
      }
    });

  const objectOpts = (c: Command) => c
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .option('-A, --all-namespaces', 'every namespace');

  objectOpts(program.command('get')
    .description('List Image or RootFS objects with their status, as the controller last wrote it (drop-in mode)')
    .argument('<kind>', 'images | rootfs')
    .argument('[name]', 'one object')
    .option('-o, --output <format>', 'json | yaml | wide | name'))
    .action(async (kind: string, name: string | undefined, o: { output?: string; namespace?: string; allNamespaces?: boolean }, cmd: Command) => {
      try {
        const { store } = await base(cmd);
        const { getObjects } = await import('./get.js');
        const r = await getObjects(store, kind, name, o);
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        if (r.exitCode) process.exitCode = r.exitCode;
      } catch (e) { fail(e); }
    });

  objectOpts(program.command('describe')
    .description('Show an Image or RootFS in detail with its conditions and recent events (drop-in mode)')
    .argument('<kind>', 'image | rootfs')
    .argument('<name>', 'object name'))
    .action(async (kind: string, name: string, o: { namespace?: string }, cmd: Command) => {
      try {
        const { store } = await base(cmd);
        const { describe } = await import('./describe.js');
        const r = await describe(store, kind, name, o.namespace);
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        if (r.exitCode) process.exitCode = r.exitCode;
      } catch (e) { fail(e); }
    });
}
