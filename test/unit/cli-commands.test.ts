// The grootfs command layer over a recording in-memory engine: argument and flag mapping,
// stdout contract, exit codes. The real engine is exercised in test/integration/cli-*.
import { Command } from 'commander';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerGrootfsCommands, type CliDeps } from '../../src/cli/grootfs.js';
import { RootfsNotFoundError } from '../../src/errors/index.js';
import type { CleanResult, CreateOptions, Engine, EngineOptions, RootfsInfo, RuntimeSpec } from '../../src/rootfs/index.js';

class FakeEngine implements Engine {
  calls: [string, unknown][] = [];
  rootfs = new Map<string, RootfsInfo>();
  cleanResult: CleanResult = { skipped: false, removedVolumes: ['v1'], removedImages: [], freedBytes: 10 };
  closed = 0;
  readonly idMap = undefined;
  constructor(readonly storePath: string) {}
  async pull(source: string, opts?: unknown) {
    this.calls.push(['pull', { source, opts }]);
    return { source, digest: 'sha256:m', config: { env: [], user: '', workingDir: '', raw: {} }, chainIDs: ['sha256:a', 'sha256:b'], compressedSize: 5, unpackedSize: 9 };
  }
  async unpin() {}
  async create(o: CreateOptions) {
    this.calls.push(['create', o]);
    if (o.source === 'oci:///missing') throw new Error('image source oci:///missing: no such file or directory');
    o.onProgress?.({ bytesDone: 1, bytesTotal: 1, layers: [{ digest: 'sha256:a', bytesDone: 1, bytesTotal: 1, state: 'done' }] });
    const path = join(this.storePath, 'images', o.id, 'rootfs');
    const mount = { destination: '/', type: 'overlay', source: 'overlay', options: ['lowerdir=/l,upperdir=/u,workdir=/w'] };
    const spec: RuntimeSpec = { ociVersion: '', process: { user: { uid: 0, gid: 0 }, env: ['PATH=/bin'], cwd: '' }, root: { path }, mounts: [mount] };
    const info: RootfsInfo = { id: o.id, path, source: o.source, imageDigest: 'sha256:m', chainIDs: [], mount, mounted: o.mount !== false,
      wantsMount: o.mount !== false, diskLimitBytes: o.diskLimitBytes ?? 0, excludeImageFromQuota: !!o.excludeImageFromQuota, createdAt: '' };
    this.rootfs.set(o.id, info);
    return { spec, rootfs: info };
  }
  async get(id: string) { return this.rootfs.get(id); }
  async list() { return [...this.rootfs.values()]; }
  async remount() {}
  async delete(id: string) { this.calls.push(['delete', id]); return this.rootfs.delete(id); }
  async stats(id: string) {
    if (!this.rootfs.has(id)) throw new RootfsNotFoundError(`Image \`${id}\` not found`);
    return { totalBytesUsed: 100, exclusiveBytesUsed: 7, quotaSizeBytes: 50, committedSpaceBytes: 60 };
  }
  async clean(o?: { thresholdBytes?: number }) { this.calls.push(['clean', o]); return this.cleanResult; }
  async capacity() { return 123456; }
  async close() { this.closed++; }
}

interface Run { out: string; code: number; engine: FakeEngine }

let dir: string;
let store: string;
let engine: FakeEngine;

async function groot(...argv: string[]): Promise<Run> {
  let out = '';
  let code = 0;
  const deps: CliDeps = {
    openEngine: async (o: EngineOptions) => { expect(o.storePath).toBe(engine.storePath); return engine; },
    stdout: { write: (s: string) => { out += s; } },
    stderr: { isTTY: false, write: () => true },
    getuid: () => 0,
    setExitCode: (c) => { code = c; },
  };
  const program = new Command('groot');
  registerGrootfsCommands(program, deps);
  program.exitOverride();
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(['node', 'groot', ...argv]);
  } catch (e) {
    code = (e as { exitCode?: number }).exitCode ?? 99;
  }
  return { out, code, engine };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'groot-cli-unit-'));
  store = join(dir, 'store');
  await mkdir(store);
  engine = new FakeEngine(store);
});
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

describe('create', () => {
  test('prints the runtime spec without mounts when groot mounted it', async () => {
    const r = await groot('--store', store, 'create', 'oci:///img:latest', 'c1');
    expect(r.code).toBe(0);
    const spec = JSON.parse(r.out);
    expect(spec).toEqual({ ociVersion: '', process: { user: { uid: 0, gid: 0 }, env: ['PATH=/bin'], cwd: '' }, root: { path: join(store, 'images/c1/rootfs') } });
    const [, o] = engine.calls.find(([n]) => n === 'create') as [string, CreateOptions];
    expect(o).toMatchObject({ id: 'c1', source: 'oci:///img:latest', mount: true, diskLimitBytes: 0, excludeImageFromQuota: false, skipLayerValidation: false, insecureRegistries: [] });
    expect(o.signal).toBeInstanceOf(AbortSignal);
    expect(engine.closed).toBe(1);
  });

  test('--without-mount prints the one overlay mount', async () => {
    const r = await groot('--store', store, 'create', '--without-mount', 'oci:///img', 'c2');
    expect(JSON.parse(r.out).mounts).toEqual([{ destination: '/', type: 'overlay', source: 'overlay', options: ['lowerdir=/l,upperdir=/u,workdir=/w'] }]);
  });

  test('flags reach the engine: limits, credentials, insecure registries', async () => {
    await groot('--store', store, 'create', '--disk-limit-size-bytes', '1000', '--username', 'u', '--password', 'secret',
      '--insecure-registry', 'a:5000', '--insecure-registry', 'b', 'docker://a:5000/x', 'c3');
    const [, o] = engine.calls.find(([n]) => n === 'create') as [string, CreateOptions];
    expect(o).toMatchObject({ diskLimitBytes: 1000, maxUnpackedBytes: 1000, credentials: { username: 'u', password: 'secret' }, insecureRegistries: ['a:5000', 'b'] });
    engine.calls = [];
    await groot('--store', store, 'create', '--disk-limit-size-bytes', '1000', '--exclude-image-from-quota', 'docker://a/x', 'c4');
    const [, o2] = engine.calls.find(([n]) => n === 'create') as [string, CreateOptions];
    expect(o2.excludeImageFromQuota).toBe(true);
    expect(o2.maxUnpackedBytes).toBeUndefined();
  });

  test('--with-clean cleans first, with the threshold', async () => {
    await groot('--store', store, 'create', '--with-clean', '--threshold-bytes', '777', 'oci:///img', 'c5');
    expect(engine.calls.map(([n]) => n)).toEqual(['clean', 'create']);
    expect(engine.calls[0][1]).toEqual({ thresholdBytes: 777 });
    engine.calls = [];
    await groot('--store', store, 'create', 'oci:///img', 'c6');
    expect(engine.calls.map(([n]) => n)).toEqual(['create']);
  });

  test('config file keys apply; flags override them', async () => {
    const cfg = join(dir, 'config.yml');
    await writeFile(cfg, `store: ${store}\ncreate:\n  with_clean: true\n  without_mount: true\n  disk_limit_size_bytes: 5\nclean:\n  threshold_bytes: 99\n`);
    const r = await groot('--config', cfg, 'create', 'oci:///img', 'k1');
    expect(engine.calls.map(([n]) => n)).toEqual(['clean', 'create']);
    expect(engine.calls[0][1]).toEqual({ thresholdBytes: 99 });
    expect(JSON.parse(r.out).mounts).toHaveLength(1);
    expect((engine.calls[1][1] as CreateOptions).diskLimitBytes).toBe(5);
    engine.calls = [];
    const r2 = await groot('--config', cfg, 'create', '--without-clean', '--with-mount', '--disk-limit-size-bytes', '6', 'oci:///img', 'k2');
    expect(engine.calls.map(([n]) => n)).toEqual(['create']);
    expect(JSON.parse(r2.out).mounts).toBeUndefined();
    expect((engine.calls[0][1] as CreateOptions).diskLimitBytes).toBe(6);
  });

  test('engine errors: message on stdout, exit 1, engine closed', async () => {
    const r = await groot('--store', store, 'create', 'oci:///missing', 'x');
    expect(r.code).toBe(1);
    expect(r.out).toBe('image source oci:///missing: no such file or directory\n');
    expect(engine.closed).toBe(1);
  });

  test('bad input is refused before the engine is opened', async () => {
    for (const [args, msg] of [
      [['create', 'oci:///img', 'a/b'], 'id `a/b` contains invalid characters: `/`'],
      [['create', '--disk-limit-size-bytes', '-1', 'oci:///img', 'x'], 'invalid argument: --disk-limit-size-bytes cannot be negative (-1)'],
      [['create', '--with-clean', '--without-clean', 'oci:///img', 'x'], 'with-clean and without-clean cannot be used together'],
      [['--log-level', 'loud', 'create', 'oci:///img', 'x'], 'invalid log level "loud"'],
    ] as [string[], string][]) {
      const r = await groot('--store', store, ...args);
      expect(r.code).toBe(1);
      expect(r.out).toContain(msg);
    }
    expect(engine.calls).toEqual([]);
  });

  test('a store that does not exist asks for init-store', async () => {
    const r = await groot('--store', join(dir, 'nostore'), 'create', 'oci:///img', 'x');
    expect(r.code).toBe(1);
    expect(r.out).toBe(`Store path ${join(dir, 'nostore')} is not initialized. Please run init-store.\n`);
  });

  test('usage errors go to stdout with exit 1', async () => {
    const r = await groot('--store', store, 'create', 'oci:///img');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/missing required argument 'id'/);
  });

  test('global flags are accepted after the command name too', async () => {
    const r = await groot('create', '--store', store, 'oci:///img', 'late');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).root.path).toBe(join(store, 'images/late/rootfs'));
  });
});

describe('delete, stats, list, clean, capacity, pull', () => {
  test('delete: by id, by path, unknown (exit 0), outside the store (exit 0)', async () => {
    await groot('--store', store, 'create', 'oci:///img', 'd1');
    await groot('--store', store, 'create', 'oci:///img', 'd2');
    expect(await groot('--store', store, 'delete', 'd1')).toMatchObject({ code: 0, out: 'Image d1 deleted\n' });
    expect(await groot('--store', store, 'delete', join(store, 'images/d2/rootfs'))).toMatchObject({ code: 0, out: 'Image d2 deleted\n' });
    expect(await groot('--store', store, 'delete', 'nope')).toMatchObject({ code: 0, out: 'Image `nope` not found. Skipping delete.\n' });
    expect(await groot('--store', store, 'delete', '/elsewhere/images/x/rootfs')).toMatchObject({ code: 0, out: 'path `/elsewhere/images/x/rootfs` is outside store path\n' });
    expect(await groot('--store', join(dir, 'nostore'), 'delete', 'x')).toMatchObject({ code: 0, out: 'Image `x` not found. Skipping delete.\n' });
  });

  test('stats prints disk_usage JSON; unknown id is an error', async () => {
    await groot('--store', store, 'create', 'oci:///img', 's1');
    const r = await groot('--store', store, 'stats', 's1');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ disk_usage: { total_bytes_used: 100, exclusive_bytes_used: 7, quota_size_bytes: 50, committed_space_bytes: 60 } });
    expect(await groot('--store', store, 'stats', 'nope')).toMatchObject({ code: 1, out: 'Image `nope` not found\n' });
  });

  test('list: Store empty, then image paths', async () => {
    expect((await groot('--store', store, 'list')).out).toBe('Store empty\n');
    await groot('--store', store, 'create', 'oci:///img', 'l1');
    await groot('--store', store, 'create', 'oci:///img', 'l2');
    expect((await groot('--store', store, 'list')).out).toBe(`${join(store, 'images/l1')}\n${join(store, 'images/l2')}\n`);
    expect(await groot('--store', join(dir, 'nostore'), 'list')).toMatchObject({ code: 1, out: `no store found at ${join(dir, 'nostore')}\n` });
  });

  test('clean: threshold passed; skipped vs completed', async () => {
    engine.cleanResult = { skipped: true, removedVolumes: [], removedImages: [], freedBytes: 0 };
    expect((await groot('--store', store, 'clean', '--threshold-bytes', '5000')).out).toBe('threshold not reached: skipping clean\n');
    expect(engine.calls.at(-1)).toEqual(['clean', { thresholdBytes: 5000 }]);
    engine.cleanResult = { skipped: false, removedVolumes: [], removedImages: [], freedBytes: 0 };
    expect((await groot('--store', store, 'clean')).out).toBe('clean completed\n');
    expect(engine.calls.at(-1)).toEqual(['clean', { thresholdBytes: 0 }]);
    expect(await groot('--store', join(dir, 'nostore'), 'clean')).toMatchObject({ code: 0, out: `no store found at ${join(dir, 'nostore')}\n` });
  });

  test('capacity: init.store_size_bytes from config, else the filesystem', async () => {
    expect(JSON.parse((await groot('--store', store, 'capacity')).out)).toEqual({ capacity: 123456 });
    const cfg = join(dir, 'c.yml');
    await writeFile(cfg, 'init:\n  store_size_bytes: 424242\n');
    expect(JSON.parse((await groot('--config', cfg, '--store', store, 'capacity')).out)).toEqual({ capacity: 424242 });
  });

  test('pull fills the cache and prints a summary', async () => {
    const r = await groot('--store', store, 'pull', '--skip-layer-validation', 'oci:///img:1');
    expect(JSON.parse(r.out)).toEqual({ source: 'oci:///img:1', digest: 'sha256:m', layers: 2, compressed_size_bytes: 5, unpacked_size_bytes: 9 });
    expect(engine.calls[0][1]).toMatchObject({ source: 'oci:///img:1', opts: { skipLayerValidation: true } });
  });

  test('init-store needs root', async () => {
    let out = '';
    let code = 0;
    const program = new Command('groot');
    registerGrootfsCommands(program, { openEngine: async () => engine, stdout: { write: (s: string) => { out += s; } }, stderr: { write: () => true }, getuid: () => 1000, setExitCode: (c) => { code = c; } });
    await program.parseAsync(['node', 'groot', '--store', join(dir, 's2'), 'init-store']);
    expect(code).toBe(1);
    expect(out).toBe(`store ${join(dir, 's2')} can only be initialized by Root user\n`);
  });
});
