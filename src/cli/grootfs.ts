// grootfs-compatible commands (Garden's image plugin): init-store, delete-store, create,
// delete, stats, list, clean, capacity, plus pull. The contract Garden relies on:
// results on stdout (create: the runtime-spec JSON), errors as a message on STDOUT with
// exit 1, logs on stderr (or --log-file).
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { configureLogging, logger } from '../log/index.js';
import { GrootError, InvalidArgumentError, messageOf } from '../errors/index.js';
import type { Engine, EngineOptions, PullProgress } from '../rootfs/index.js';
import { checkLogLevel, checkRootfsId, collect, idFromIdOrPath, parseBytes, parseIdMapping } from './args.js';
import { defaultConfig, loadConfigFile, storeFsOf, type GrootfsConfig } from './config.js';
import { resolveCreateSettings, resolveSourceSettings, type CreateFlags, type SourceFlags, type SourceSettings } from './create-options.js';
import { ensureGlobalOptions, globalFlags } from './global-options.js';
import { createProgress, type ProgressStream } from './progress.js';
import { requireStore, storeExists } from './store-check.js';
import { rootlessNamespace } from './rootless.js';
import type { StoreNamespace } from '../store/namespace.js';
import { ensureStoreMounted } from './backing-hook.js';

const log = logger('cli');

/** What the commands touch outside themselves; tests pass fakes. */
export interface CliDeps {
  openEngine(o: EngineOptions): Promise<Engine>;
  stdout: { write(s: string): unknown };
  /** Where progress is drawn (a TTY) or not (then progress goes to the logs). */
  stderr: ProgressStream;
  getuid(): number;
  setExitCode(code: number): void;
}

export function defaultDeps(): CliDeps {
  return {
    // Loaded when a command runs: `--help` and argument errors need no libc bindings.
    openEngine: async (o) => {
      await ensureStoreMounted(o.storePath); // a loop-backed store loses its mount at reboot
      return (await import('../rootfs/index.js')).openEngine(o);
    },
    stdout: process.stdout,
    stderr: process.stderr,
    getuid: () => process.getuid?.() ?? 0,
    setExitCode: (c) => { process.exitCode = c; },
  };
}

export function registerGrootfsCommands(program: Command, deps: CliDeps = defaultDeps()): void {
  ensureGlobalOptions(program);
  const out = (s: string) => { deps.stdout.write(s.endsWith('\n') ? s : s + '\n'); };
  const add = (name: string) => {
    const c = program.command(name);
    // Usage errors too go to stdout, where Garden looks for the message.
    c.configureOutput({ writeErr: (s) => deps.stdout.write(s) });
    return c;
  };

  add('init-store')
    .description('Initialize a store directory (optionally on a new loop-mounted filesystem)')
    .option('--uid-mapping <ns:host:size>', 'UID mapping for image translation (repeatable)', collect)
    .option('--gid-mapping <ns:host:size>', 'GID mapping for image translation (repeatable)', collect)
    .option('--rootless <user:group>', 'map ids from /etc/subuid and /etc/subgid of this user and group')
    .option('--store-size-bytes <n>', 'create a filesystem of this size and mount it on the store')
    .option('--store-fs <xfs|btrfs>', 'filesystem to format the backing file with (default xfs)')
    .option('--with-direct-io', 'direct I/O on the backing loop device')
    .action(action(deps, 'init-store', async (o: { uidMapping?: string[]; gidMapping?: string[]; rootless?: string; storeSizeBytes?: string; storeFs?: string; withDirectIo?: boolean }, cmd: Command) => {
      const cfg = await settings(cmd);
      if (deps.getuid() !== 0) throw new GrootError('GROOT_PERMISSION', `store ${cfg.store} can only be initialized by Root user`);
      if (o.rootless && (o.uidMapping || o.gidMapping)) throw new InvalidArgumentError('--rootless and --uid-mapping/--gid-mapping cannot be used together');
      const { initStore } = await import('./store-admin.js');
      const namespace: StoreNamespace = o.rootless ? await rootlessNamespace(o.rootless) : {
        uidMappings: (o.uidMapping ?? []).map((m) => parseIdMapping('uid-mapping', m)),
        gidMappings: (o.gidMapping ?? []).map((m) => parseIdMapping('gid-mapping', m)),
      };
      const size = o.storeSizeBytes !== undefined ? parseBytes('--store-size-bytes', o.storeSizeBytes) : cfg.init.storeSizeBytes;
      const storeFs = o.storeFs !== undefined ? storeFsOf('--store-fs', o.storeFs) : cfg.init.storeFs;
      await initStore({ storePath: cfg.store, storeSizeBytes: size, storeFs, directIO: !!o.withDirectIo || cfg.init.withDirectIO, namespace, openEngine: deps.openEngine });
    }));

  add('delete-store')
    .description('Delete the store: every root filesystem, every layer, and its backing filesystem')
    .action(action(deps, 'delete-store', async (_o: unknown, cmd: Command) => {
      const cfg = await settings(cmd);
      const { deleteStore } = await import('./store-admin.js');
      await deleteStore(cfg.store, deps.openEngine);
    }));

  addSourceFlags(add('create'))
    .description('Create a root filesystem from an image; prints the runtime-spec JSON')
    .argument('<image>', 'oci:///path[:tag], docker://[host/]repo[:tag], or a rootfs tarball path')
    .argument('<id>', 'id of the new root filesystem')
    .option('--disk-limit-size-bytes <n>', 'disk limit, including the image unless --exclude-image-from-quota')
    .option('--exclude-image-from-quota', 'count only what the container writes against the limit')
    .option('--with-clean', 'clean unused layers (see --threshold-bytes) before creating')
    .option('--without-clean', 'do not clean before creating')
    .option('--threshold-bytes <n>', 'store usage above which --with-clean cleans')
    .option('--with-mount', 'mount the root filesystem (default)')
    .option('--without-mount', 'do not mount; print the mount for the runtime to perform')
    .action(action(deps, 'create', async (image: string, id: string, o: CreateFlags, cmd: Command) => {
      const cfg = await settings(cmd);
      checkRootfsId(id);
      const s = resolveCreateSettings(cfg, o, image);
      await requireStore(cfg.store);
      await withEngine(deps, cfg.store, async (engine) => {
        if (s.clean) {
          const r = await engine.clean({ thresholdBytes: s.thresholdBytes });
          log.info({ skipped: r.skipped, freedBytes: r.freedBytes, removedVolumes: r.removedVolumes.length }, 'clean before create');
        }
        const { spec } = await pulling(deps, image, (onProgress, signal) => engine.create({
          id, source: image, onProgress, signal,
          diskLimitBytes: s.diskLimitBytes,
          excludeImageFromQuota: s.excludeImageFromQuota,
          mount: s.mount,
          // An inclusive limit caps the image itself too (GrootFS refuses such images up front).
          ...(s.diskLimitBytes > 0 && !s.excludeImageFromQuota ? { maxUnpackedBytes: s.diskLimitBytes } : {}),
          skipLayerValidation: s.skipLayerValidation,
          insecureRegistries: s.insecureRegistries,
          ...sourceOptions(s),
        }));
        const printed = { ...spec };
        if (s.mount) delete printed.mounts; // mounted by us: the runtime has nothing to mount
        out(JSON.stringify(printed));
      });
    }));

  add('delete')
    .description('Unmount and delete a root filesystem (an unknown id is not an error)')
    .argument('<id|path>', 'id, or the path create printed')
    .action(action(deps, 'delete', async (idOrPath: string, _o: unknown, cmd: Command) => {
      const cfg = await settings(cmd);
      const found = idFromIdOrPath(cfg.store, idOrPath);
      if ('outside' in found) { out(`path \`${found.outside}\` is outside store path`); return; }
      const deleted = (await storeExists(cfg.store)) && await withEngine(deps, cfg.store, (e) => e.delete(found.id));
      out(deleted ? `Image ${found.id} deleted` : `Image \`${found.id}\` not found. Skipping delete.`);
    }));

  add('stats')
    .description('Disk usage of a root filesystem, as JSON')
    .argument('<id|path>', 'id, or the path create printed')
    .action(action(deps, 'stats', async (idOrPath: string, _o: unknown, cmd: Command) => {
      const cfg = await settings(cmd);
      const found = idFromIdOrPath(cfg.store, idOrPath);
      if ('outside' in found) throw new InvalidArgumentError(`path \`${found.outside}\` is outside store path`);
      await requireStore(cfg.store);
      const st = await withEngine(deps, cfg.store, (e) => e.stats(found.id));
      out(JSON.stringify({ disk_usage: {
        total_bytes_used: st.totalBytesUsed,
        exclusive_bytes_used: st.exclusiveBytesUsed,
        quota_size_bytes: st.quotaSizeBytes,
        committed_space_bytes: st.committedSpaceBytes,
      } }));
    }));

  add('list')
    .description('List the root filesystems in the store, one image path a line')
    .action(action(deps, 'list', async (_o: unknown, cmd: Command) => {
      const cfg = await settings(cmd);
      if (!(await storeExists(cfg.store))) throw new GrootError('GROOT_STORE', `no store found at ${cfg.store}`);
      const all = await withEngine(deps, cfg.store, (e) => e.list());
      if (all.length === 0) { out('Store empty'); return; }
      out(all.map((r) => dirname(r.path)).join('\n'));
    }));

  add('clean')
    .description('Remove layers no root filesystem uses')
    .option('--threshold-bytes <n>', 'clean only when the store uses more than this')
    .action(action(deps, 'clean', async (o: { thresholdBytes?: string }, cmd: Command) => {
      const cfg = await settings(cmd);
      const threshold = o.thresholdBytes !== undefined ? parseBytes('--threshold-bytes', o.thresholdBytes) : cfg.clean.thresholdBytes;
      if (!(await storeExists(cfg.store))) { out(`no store found at ${cfg.store}`); return; } // exit 0, as GrootFS
      const r = await withEngine(deps, cfg.store, (e) => e.clean({ thresholdBytes: threshold }));
      out(r.skipped ? 'threshold not reached: skipping clean' : 'clean completed');
    }));

  add('capacity')
    .description('Bytes the store can hold, as JSON')
    .action(action(deps, 'capacity', async (_o: unknown, cmd: Command) => {
      const cfg = await settings(cmd);
      // GrootFS reports the configured init.store_size_bytes; without one, ask the filesystem.
      let capacity = cfg.init.storeSizeBytes;
      if (capacity === 0) {
        await requireStore(cfg.store);
        capacity = await withEngine(deps, cfg.store, (e) => e.capacity());
      }
      out(JSON.stringify({ capacity }));
    }));

  addSourceFlags(add('pull'))
    .description('Fill the layer cache with an image without creating a root filesystem')
    .argument('<source>', 'oci:///path[:tag], docker://[host/]repo[:tag], or a rootfs tarball path')
    .action(action(deps, 'pull', async (source: string, o: SourceFlags, cmd: Command) => {
      const cfg = await settings(cmd);
      const s = resolveSourceSettings(cfg, o, source);
      await requireStore(cfg.store);
      const info = await withEngine(deps, cfg.store, (engine) => pulling(deps, source, (onProgress, signal) => engine.pull(source, {
        onProgress, signal,
        skipLayerValidation: s.skipLayerValidation,
        insecureRegistries: s.insecureRegistries,
        eagerWorkers: true, // `pull` is for filling the cache: layers are expected
        ...sourceOptions(s),
      })), { startWorkers: true });
      out(JSON.stringify({
        source: info.source, digest: info.digest, layers: info.chainIDs.length,
        compressed_size_bytes: info.compressedSize, unpacked_size_bytes: info.unpackedSize,
      }));
    }));
}

/** The registry-facing settings the engine takes as they are. */
function sourceOptions(s: SourceSettings) {
  return {
    ...(s.credentials ? { credentials: s.credentials } : {}),
    ...(s.platform ? { platform: s.platform } : {}),
    ...(s.mirrors ? { mirrors: s.mirrors } : {}),
    ...(s.credentialsFile ? { credentialsFile: s.credentialsFile } : {}),
    ...(s.concurrency ? { concurrency: s.concurrency } : {}),
  };
}

function addSourceFlags(c: Command): Command {
  return c
    .option('--username <user>', 'registry username')
    .option('--password <password>', 'registry password')
    .option('--insecure-registry <host>', 'registry that may use plain HTTP or unverified TLS (repeatable)', collect)
    .option('--skip-layer-validation', 'do not check layer digests (oci: sources only)')
    .option('--platform <os/arch[/variant]>', 'pick this platform from a multi-platform image')
    .option('--registry-mirror <host=url>', 'mirror tried before the registry HOST (repeatable)', collect)
    .option('--credentials-file <path>', 'Docker config.json-style registry credentials')
    .option('--layer-concurrency <n>', 'layers downloaded and unpacked at once (default 6)');
}

/** Wrap a command body: a thrown error becomes a message on stdout and exit code 1. */
function action<A extends unknown[]>(deps: CliDeps, name: string, body: (...a: A) => Promise<void>): (...a: A) => Promise<void> {
  return async (...a: A) => {
    try {
      await body(...a);
    } catch (e) {
      // A person at a terminal reads the message on stdout; a duplicate JSON line on stderr
      // is for logs that go somewhere (Garden's, or --log-file).
      if (!deps.stderr.isTTY || loggingToFile) log.error({ command: name, code: (e as GrootError).code, err: messageOf(e) }, `${name} failed`);
      deps.stdout.write(messageOf(e) + '\n');
      deps.setExitCode(1);
    }
  };
}

let loggingToFile = false;

/** The global flags over the config file; also sets up logging. */
async function settings(cmd: Command): Promise<GrootfsConfig> {
  const g = globalFlags(cmd);
  let cfg = defaultConfig();
  let unknownKeys: string[] = [];
  if (g.config) ({ config: cfg, unknownKeys } = await loadConfigFile(g.config));
  if (g.store !== undefined) cfg.store = g.store;
  if (g.logLevel !== undefined) cfg.logLevel = checkLogLevel(g.logLevel, '--log-level');
  else if (cfg.logLevel !== undefined) cfg.logLevel = checkLogLevel(cfg.logLevel, `config file ${g.config}`);
  if (g.logFile !== undefined) cfg.logFile = g.logFile;
  if (!cfg.store) throw new InvalidArgumentError('invalid argument: the store path is empty');
  cfg.store = resolve(cfg.store);
  configureLogging({ level: cfg.logLevel, file: cfg.logFile });
  loggingToFile = !!cfg.logFile;
  if (unknownKeys.length > 0) log.warn({ config: g.config, keys: unknownKeys }, 'config keys groot does not know are ignored');
  return cfg;
}

async function withEngine<T>(deps: CliDeps, storePath: string, fn: (e: Engine) => Promise<T>, opts: Omit<EngineOptions, 'storePath'> = {}): Promise<T> {
  const engine = await deps.openEngine({ storePath, ...opts });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

/** Run a pull-like call with progress display and Ctrl-C/SIGTERM turned into an abort. */
async function pulling<T>(deps: CliDeps, label: string, run: (onProgress: (p: PullProgress) => void, signal: AbortSignal) => Promise<T>): Promise<T> {
  const progress = createProgress({ label, stream: deps.stderr, log: logger('pull') });
  const ac = new AbortController();
  const stop = (sig: NodeJS.Signals) => { log.warn({ signal: sig }, 'aborting'); ac.abort(); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await run((p) => progress.update(p), ac.signal);
  } finally {
    progress.done();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
