// The grootfs-compatible CLI end to end: the real built binary (`node bin/groot.js`), as
// root, against temporary stores, with real overlay mounts.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciLayoutBuilder, sha256 } from '../helpers/oci.js';
import { GROOT_BIN, groot, removeWithMounts, type CliResult } from '../helpers/cli.js';
import { mount, mountTable, umount, MNT_DETACH } from '../../src/sys/index.js';

const MiB = 1024 * 1024;
let dir: string;
let layout: string;
let badLayout: string;

const isMounted = async (p: string) => (await mountTable()).some((m) => m.mountpoint === p);
const json = (r: CliResult) => {
  expect(r).toMatchObject({ code: 0 });
  return JSON.parse(r.stdout) as Record<string, any>;
};
let storeN = 0;
async function newStore(): Promise<string> {
  const s = join(dir, `store${++storeN}`);
  expect(await groot(['--store', s, 'init-store'])).toMatchObject({ code: 0, stdout: '' });
  return s;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'groot-cli-int-'));
  layout = join(dir, 'layout');
  const b = new OciLayoutBuilder(layout);
  await b.image({
    tag: 'latest',
    env: ['PATH=/bin', 'GREETING=hi'],
    layers: [
      [{ name: 'bin/', type: 'dir' }, { name: 'etc/', type: 'dir' }, { name: 'etc/base', content: 'base layer\n' },
        { name: 'etc/gone', content: 'removed by layer 2\n' }, { name: 'big', content: Buffer.alloc(256 * 1024, 7) }],
      [{ name: 'etc/app', content: 'app layer\n' }, { name: 'etc/.wh.gone' }],
    ],
  });
  await b.finish();

  // A layout whose tagged manifest is not JSON (its digest is right: only the content is bad).
  badLayout = join(dir, 'bad-layout');
  const bad = new OciLayoutBuilder(badLayout);
  const notJson = Buffer.from('this is not a manifest {');
  const d = await bad.blob(notJson, 'application/vnd.oci.image.manifest.v1+json');
  expect(d.digest).toBe(sha256(notJson));
  bad.index.push({ ...d, annotations: { 'org.opencontainers.image.ref.name': 'broken' } });
  await bad.finish();
});

afterAll(async () => {
  for (let i = 1; i <= storeN; i++) await groot(['--store', join(dir, `store${i}`), 'delete-store']).catch(() => undefined);
  await removeWithMounts(dir);
});

describe('create / stats / list / delete', () => {
  let store: string;
  beforeAll(async () => { store = await newStore(); });

  test('init-store makes a 0700 store', async () => {
    expect((await stat(store)).mode & 0o777).toBe(0o700);
    // Idempotent: a second init-store on the same store is fine.
    expect(await groot(['--store', store, 'init-store'])).toMatchObject({ code: 0, stdout: '' });
  });

  test('create mounts the rootfs and prints the spec without mounts', async () => {
    const r = await groot(['--store', store, 'create', `oci://${layout}:latest`, 'c1']);
    const spec = json(r);
    const rootfs = join(store, 'images', 'c1', 'rootfs');
    expect(spec).toEqual({ ociVersion: expect.any(String), process: { user: { uid: 0, gid: 0 }, env: ['PATH=/bin', 'GREETING=hi'], cwd: expect.any(String) }, root: { path: rootfs } });
    expect(await isMounted(rootfs)).toBe(true);
    expect(await readFile(join(rootfs, 'etc/base'), 'utf8')).toBe('base layer\n');
    expect(await readFile(join(rootfs, 'etc/app'), 'utf8')).toBe('app layer\n');
    await expect(stat(join(rootfs, 'etc/gone'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('stats reports real numbers after the container writes', async () => {
    const rootfs = join(store, 'images', 'c1', 'rootfs');
    const before = json(await groot(['--store', store, 'stats', 'c1'])).disk_usage;
    expect(Object.keys(before).sort()).toEqual(['committed_space_bytes', 'exclusive_bytes_used', 'quota_size_bytes', 'total_bytes_used']);
    expect(before.total_bytes_used).toBeGreaterThanOrEqual(256 * 1024); // the image's layers count in the total
    await writeFile(join(rootfs, 'written'), Buffer.alloc(2 * MiB, 1));
    const after = json(await groot(['--store', store, 'stats', join(store, 'images', 'c1')])).disk_usage;
    expect(after.exclusive_bytes_used - before.exclusive_bytes_used).toBeGreaterThanOrEqual(2 * MiB);
    expect(after.exclusive_bytes_used).toBeLessThan(2 * MiB + 256 * 1024);
    expect(after.total_bytes_used).toBeGreaterThanOrEqual(after.exclusive_bytes_used + 256 * 1024);
    expect(after.quota_size_bytes).toBe(0);
  });

  test('--without-mount mounts nothing and prints the one overlay mount, which works', async () => {
    const spec = json(await groot(['--store', store, 'create', '--without-mount', `oci://${layout}:latest`, 'c2']));
    const rootfs = join(store, 'images', 'c2', 'rootfs');
    expect(spec.root).toEqual({ path: rootfs });
    expect(spec.mounts).toHaveLength(1);
    const m = spec.mounts[0];
    expect(m).toEqual({ destination: '/', type: 'overlay', source: 'overlay', options: [expect.stringMatching(/^lowerdir=.+,upperdir=.+,workdir=.+$/)] });
    expect(await isMounted(rootfs)).toBe(false);
    // Do what the runtime would: mount it with those options.
    mount(m.source, rootfs, m.type, 0, m.options.join(','));
    try {
      expect(await readFile(join(rootfs, 'etc/app'), 'utf8')).toBe('app layer\n');
    } finally {
      umount(rootfs, MNT_DETACH);
    }
  });

  test('list prints one image path a line', async () => {
    const r = await groot(['--store', store, 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual([join(store, 'images', 'c1'), join(store, 'images', 'c2')]);
  });

  test('delete unmounts and removes; by path too; unknown id exits 0 with a message', async () => {
    const rootfs = join(store, 'images', 'c1', 'rootfs');
    const r = await groot(['--store', store, 'delete', 'c1']);
    expect(r.code).toBe(0);
    expect(await isMounted(rootfs)).toBe(false);
    await expect(stat(join(store, 'images', 'c1'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await groot(['--store', store, 'delete', join(store, 'images', 'c2', 'rootfs')])).code).toBe(0);
    await expect(stat(join(store, 'images', 'c2'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await groot(['--store', store, 'delete', 'c1'])).toEqual({ code: 0, stdout: 'Image `c1` not found. Skipping delete.\n', stderr: '' });
    expect(await groot(['--store', store, 'list'])).toMatchObject({ code: 0, stdout: 'Store empty\n' });
  });
});

describe('errors: a message on stdout naming the source, exit 1', () => {
  let store: string;
  beforeAll(async () => { store = await newStore(); });

  test('a path that does not exist', async () => {
    const src = `oci://${join(dir, 'no-such-layout')}:latest`;
    const r = await groot(['--store', store, 'create', src, 'e1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(join(dir, 'no-such-layout'));
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const tar = join(dir, 'no-such-rootfs.tar');
    const r2 = await groot(['--store', store, 'create', tar, 'e1']);
    expect(r2.code).toBe(1);
    expect(r2.stdout).toContain(tar);
  });

  test('a tag the layout does not have', async () => {
    const r = await groot(['--store', store, 'create', `oci://${layout}:nope`, 'e2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(layout);
    expect(r.stdout).toContain('nope');
  });

  test('a manifest that is not JSON', async () => {
    const r = await groot(['--store', store, 'create', `oci://${badLayout}:broken`, 'e3']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(badLayout);
    expect(r.stdout.toLowerCase()).toContain('json');
  });

  test('nothing is left behind by the failures', async () => {
    expect(await readdir(join(store, 'images'))).toEqual([]);
    expect(await groot(['--store', store, 'list'])).toMatchObject({ code: 0, stdout: 'Store empty\n' });
  });

  test('create on a store that was never initialized', async () => {
    const r = await groot(['--store', join(dir, 'never'), 'create', `oci://${layout}:latest`, 'x']);
    expect(r).toMatchObject({ code: 1, stdout: `Store path ${join(dir, 'never')} is not initialized. Please run init-store.\n` });
  });

  test('bad arguments', async () => {
    expect(await groot(['--store', store, 'create', `oci://${layout}:latest`])).toMatchObject({ code: 1, stdout: expect.stringContaining("missing required argument 'id'") });
    expect(await groot(['--store', store, 'create', '--disk-limit-size-bytes', '-1', `oci://${layout}:latest`, 'x'])).toMatchObject({ code: 1, stdout: 'invalid argument: --disk-limit-size-bytes cannot be negative (-1)\n' });
    expect(await groot(['--store', store, 'stats', 'no-such-id'])).toMatchObject({ code: 1, stdout: expect.stringContaining('no-such-id') });
    expect(await groot(['--store', store, 'stats', '/not/in/store/images/x'])).toMatchObject({ code: 1, stdout: 'path `/not/in/store/images/x` is outside store path\n' });
  });
});

describe('config file vs flags', () => {
  test('config keys apply; --store and create flags override them; malformed YAML is refused', async () => {
    const store = await newStore();
    const other = join(dir, 'not-this-store');
    const cfg = join(dir, 'config.yml');
    await writeFile(cfg, `store: ${other}\nlog_level: error\ncreate:\n  without_mount: true\n  unknown_key: 1\nsomething_new: true\n`);

    // store from the file (not initialized there) ...
    expect(await groot(['--config', cfg, 'create', `oci://${layout}:latest`, 'k1'])).toMatchObject({ code: 1, stdout: expect.stringContaining(other) });
    // ... overridden by --store; without_mount from the file applies; unknown keys are tolerated.
    const spec = json(await groot(['--config', cfg, '--store', store, 'create', `oci://${layout}:latest`, 'k1']));
    expect(spec.mounts).toHaveLength(1);
    expect(await isMounted(join(store, 'images', 'k1', 'rootfs'))).toBe(false);
    // --with-mount beats the file.
    const spec2 = json(await groot(['--config', cfg, '--store', store, 'create', '--with-mount', `oci://${layout}:latest`, 'k2']));
    expect(spec2.mounts).toBeUndefined();
    expect(await isMounted(join(store, 'images', 'k2', 'rootfs'))).toBe(true);

    const broken = join(dir, 'broken.yml');
    await writeFile(broken, 'store: [\n');
    expect(await groot(['--config', broken, '--store', store, 'list'])).toMatchObject({ code: 1, stdout: expect.stringContaining(`invalid config file ${broken}: malformed YAML`) });
    expect(await groot(['--config', join(dir, 'missing.yml'), 'list'])).toMatchObject({ code: 1, stdout: `invalid config path ${join(dir, 'missing.yml')}: no such file\n` });
  });

  test('--log-level and --log-file: logs leave stdout alone', async () => {
    const store = await newStore();
    const r = await groot(['--store', store, '--log-level', 'debug', 'create', `oci://${layout}:latest`, 'l1']);
    expect(JSON.parse(r.stdout).root.path).toBe(join(store, 'images', 'l1', 'rootfs'));
    expect(r.stderr).toMatch(/"level":(20|30)/); // debug/info lines went to stderr
    const logFile = join(dir, 'logs', 'groot.log');
    const r2 = await groot(['--store', store, '--log-level', 'info', '--log-file', logFile, 'delete', 'l1']);
    expect(r2).toMatchObject({ code: 0, stderr: '' });
    expect(await readFile(logFile, 'utf8')).toMatch(/"level":30/);
  });
});

describe('clean', () => {
  test('--threshold-bytes: skipped below the threshold, cleans above it', async () => {
    const store = await newStore();
    json(await groot(['--store', store, 'create', `oci://${layout}:latest`, 'g1']));
    expect((await groot(['--store', store, 'delete', 'g1'])).code).toBe(0);
    const volumes = join(store, 'volumes');
    const n = (await readdir(volumes)).length;
    expect(n).toBe(2);

    expect(await groot(['--store', store, 'clean', '--threshold-bytes', String(10 ** 15)])).toMatchObject({ code: 0, stdout: 'threshold not reached: skipping clean\n' });
    expect(await readdir(volumes)).toHaveLength(2);
    expect(await groot(['--store', store, 'clean', '--threshold-bytes', '1'])).toMatchObject({ code: 0, stdout: 'clean completed\n' });
    expect(await readdir(volumes)).toHaveLength(0);
  });

  test('layers in use survive a clean; create --with-clean cleans unused ones first', async () => {
    const store = await newStore();
    const b = new OciLayoutBuilder(join(dir, 'layout2'));
    await b.image({ tag: 'other', layers: [[{ name: 'other', content: 'x' }]] });
    await b.finish();
    json(await groot(['--store', store, 'create', `oci://${join(dir, 'layout2')}:other`, 'w1']));
    expect((await groot(['--store', store, 'delete', 'w1'])).code).toBe(0);
    json(await groot(['--store', store, 'create', `oci://${layout}:latest`, 'w2']));
    expect(await readdir(join(store, 'volumes'))).toHaveLength(3);
    expect(await groot(['--store', store, 'clean'])).toMatchObject({ code: 0, stdout: 'clean completed\n' });
    expect(await readdir(join(store, 'volumes'))).toHaveLength(2); // w2's layers stay
    expect(await readFile(join(store, 'images', 'w2', 'rootfs', 'etc', 'app'), 'utf8')).toBe('app layer\n');

    json(await groot(['--store', store, 'create', `oci://${join(dir, 'layout2')}:other`, 'w3']));
    expect((await groot(['--store', store, 'delete', 'w3'])).code).toBe(0);
    expect(await readdir(join(store, 'volumes'))).toHaveLength(3);
    json(await groot(['--store', store, 'create', '--with-clean', '--threshold-bytes', '0', `oci://${layout}:latest`, 'w4']));
    expect(await readdir(join(store, 'volumes'))).toHaveLength(2);
  });
});

describe('pull, capacity, delete-store', () => {
  test('pull fills the cache; a later create unpacks nothing new', async () => {
    const store = await newStore();
    const info = json(await groot(['--store', store, 'pull', `oci://${layout}:latest`]));
    expect(info).toMatchObject({ source: `oci://${layout}:latest`, digest: expect.stringMatching(/^sha256:/), layers: 2 });
    const vols = (await readdir(join(store, 'volumes'))).sort();
    expect(vols).toHaveLength(2);
    json(await groot(['--store', store, 'create', `oci://${layout}:latest`, 'p1']));
    expect((await readdir(join(store, 'volumes'))).sort()).toEqual(vols);
  });

  test('capacity prints {"capacity":N}: the filesystem size, or init.store_size_bytes from config', async () => {
    const store = await newStore();
    const c = json(await groot(['--store', store, 'capacity']));
    expect(Object.keys(c)).toEqual(['capacity']);
    expect(c.capacity).toBeGreaterThan(1024 * MiB);
    const cfg = join(dir, 'cap.yml');
    await writeFile(cfg, 'init:\n  store_size_bytes: 5368709120\n');
    expect(json(await groot(['--config', cfg, '--store', store, 'capacity']))).toEqual({ capacity: 5368709120 });
  });

  test('delete-store unmounts every rootfs and removes the store; twice is fine', async () => {
    const store = await newStore();
    json(await groot(['--store', store, 'create', `oci://${layout}:latest`, 'x1']));
    json(await groot(['--store', store, 'create', `oci://${layout}:latest`, 'x2']));
    expect(await groot(['--store', store, 'delete-store'])).toMatchObject({ code: 0, stdout: '' });
    await expect(stat(store)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await mountTable()).filter((m) => m.mountpoint.startsWith(store + '/'))).toEqual([]);
    expect(await groot(['--store', store, 'delete-store'])).toMatchObject({ code: 0 });
    expect(await groot(['--store', store, 'delete', 'x1'])).toMatchObject({ code: 0, stdout: 'Image `x1` not found. Skipping delete.\n' });
  });

  test('init-store with id mappings records them; different mappings later are refused', async () => {
    const store = join(dir, `store${++storeN}`);
    expect(await groot(['--store', store, 'init-store', '--uid-mapping', '0:100000:65536', '--gid-mapping', '0:100000:65536'])).toMatchObject({ code: 0 });
    const ns = JSON.parse(await readFile(join(store, 'meta', 'namespace.json'), 'utf8'));
    expect(ns).toEqual({ uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] });
    expect(await groot(['--store', store, 'init-store', '--uid-mapping', '0:100000:65536', '--gid-mapping', '0:100000:65536'])).toMatchObject({ code: 0 });
    expect(await groot(['--store', store, 'init-store'])).toMatchObject({ code: 1, stdout: expect.stringContaining('already initialized with different uid/gid mappings') });
    expect(await groot(['--store', store, 'init-store', '--uid-mapping', 'zero:1:1'])).toMatchObject({ code: 1, stdout: expect.stringContaining('parsing uid-mapping') });
  });

  test('a store made with id mappings unpacks every layer mapped: the rootfs shows the image\'s owners inside the namespace', async () => {
    const store = join(dir, `store${++storeN}`);
    expect(await groot(['--store', store, 'init-store', '--uid-mapping', '0:100000:65536', '--gid-mapping', '0:200000:65536'])).toMatchObject({ code: 0, stdout: '' });
    const spec = json(await groot(['--store', store, 'create', `oci://${layout}:latest`, 'mapped']));
    const root = spec.root.path as string;
    for (const p of ['', 'etc', 'etc/base', 'etc/app', 'big']) expect(await stat(join(root, p))).toMatchObject({ uid: 100000, gid: 200000 });
    // A file the container writes is the upper's: created by the host here, so only the root dir is checked.
    expect(await stat(join(store, 'images', 'mapped', 'diff'))).toMatchObject({ uid: 100000, gid: 200000 });
    expect(await groot(['--store', store, 'delete', 'mapped'])).toMatchObject({ code: 0 });
  });
});

test('a rootfs tarball (no config) works as a source', async () => {
  const store = await newStore();
  const src = join(dir, 'rootfs-src');
  await mkdir(join(src, 'etc'), { recursive: true });
  await writeFile(join(src, 'etc', 'stack'), 'cflinuxfs\n');
  const tarPath = join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', src, '-cf', tarPath, '.']);
  const spec = json(await groot(['--store', store, 'create', tarPath, 't1']));
  expect(await readFile(join(spec.root.path, 'etc', 'stack'), 'utf8')).toBe('cflinuxfs\n');
});

test('SIGTERM during create: exit 1 with a message, nothing half-made left behind', async () => {
  const store = await newStore();
  const big = join(dir, 'big-layout');
  const b = new OciLayoutBuilder(big);
  await b.image({ tag: 'big', layers: [1, 2, 3, 4].map((i) => [{ name: `data${i}`, content: randomBytes(24 * MiB) }]) });
  await b.finish();
  const child = spawn(GROOT_BIN, ['--store', store, 'create', `oci://${big}:big`, 'sig'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GROOT_NODE: process.execPath } });
  let stdout = '';
  child.stdout.on('data', (c) => { stdout += c; });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code))); // close: after stdout is drained
  // Wait until unpacking has started (a volume dir being written), then stop it.
  for (let i = 0; i < 600; i++) {
    const v = await readdir(join(store, 'volumes')).catch(() => [] as string[]);
    if (v.length > 0) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGTERM');
  const code = await exited;
  expect(code).toBe(1);
  // An unhandled stream error would crash with a stack on stderr and nothing on stdout.
  expect({ stdout, crash: /Unhandled|at .*node:internal/.test(stderr) }).toEqual({ stdout: expect.stringMatching(/abort/i), crash: false });
  expect(stdout).toContain(`oci://${big}:big`);
  expect(await readdir(join(store, 'images'))).toEqual([]);
  expect((await readdir(join(store, 'volumes'))).filter((n) => n.includes('incomplete'))).toEqual([]);
  expect(await groot(['--store', store, 'list'])).toMatchObject({ code: 0, stdout: 'Store empty\n' });
  // The store still works afterwards.
  json(await groot(['--store', store, 'create', `oci://${layout}:latest`, 'after']));
});

test('init-store --store-size-bytes: a loop-mounted XFS store; capacity, create, delete-store all use it', async () => {
  const store = join(dir, `store${++storeN}`);
  const size = 512 * MiB;
  expect(await groot(['--store', store, 'init-store', '--store-size-bytes', String(size)])).toMatchObject({ code: 0, stdout: '' });
  try {
    const m = (await mountTable()).find((x) => x.mountpoint === store);
    expect(m?.fstype).toBe('xfs');
    expect(m?.source).toMatch(/^\/dev\/loop\d+$/);
    expect((await stat(`${store}.backing-store`)).size).toBe(size);
    const cap = json(await groot(['--store', store, 'capacity'])).capacity;
    expect(cap).toBeGreaterThan(0.8 * size);
    expect(cap).toBeLessThanOrEqual(size);
    const spec = json(await groot(['--store', store, 'create', `oci://${layout}:latest`, 'x']));
    expect(await readFile(join(spec.root.path, 'etc', 'app'), 'utf8')).toBe('app layer\n');
    expect((await mountTable()).find((x) => x.mountpoint === spec.root.path)?.fstype).toBe('overlay');
    // Again with the same size: used as it is, nothing reformatted.
    expect(await groot(['--store', store, 'init-store', '--store-size-bytes', String(size)])).toMatchObject({ code: 0 });
    expect(await readFile(join(spec.root.path, 'etc', 'app'), 'utf8')).toBe('app layer\n');
  } finally {
    expect(await groot(['--store', store, 'delete-store'])).toMatchObject({ code: 0, stdout: '' });
  }
  expect((await mountTable()).filter((x) => x.mountpoint === store || x.mountpoint.startsWith(store + '/'))).toEqual([]);
  await expect(stat(`${store}.backing-store`)).rejects.toMatchObject({ code: 'ENOENT' });
  await expect(stat(store)).rejects.toMatchObject({ code: 'ENOENT' });
  const loops = execFileSync('losetup', ['-j', `${store}.backing-store`], { encoding: 'utf8' });
  expect(loops.trim()).toBe('');
});

test('init-store --store-fs btrfs: qgroup quotas enforced through create, stats reports them, delete-store leaves nothing', async () => {
  const store = join(dir, `store${++storeN}`);
  const size = 512 * MiB;
  expect(await groot(['--store', store, 'init-store', '--store-size-bytes', String(size), '--store-fs', 'btrfs'])).toMatchObject({ code: 0, stdout: '' });
  try {
    expect((await mountTable()).find((x) => x.mountpoint === store)?.fstype).toBe('btrfs');
    const spec = json(await groot(['--store', store, 'create', '--disk-limit-size-bytes', String(8 * MiB), '--exclude-image-from-quota', `oci://${layout}:latest`, 'q']));
    // 16 MiB into an 8 MiB exclusive quota: the write must fail, not fill the store.
    let err: NodeJS.ErrnoException | undefined;
    try {
      await writeFile(join(spec.root.path, 'big'), randomBytes(16 * MiB));
    } catch (e) { err = e as NodeJS.ErrnoException; }
    expect(err?.code === 'EDQUOT' || err?.code === 'ENOSPC' || err?.errno === -122).toBe(true);
    const stats = json(await groot(['--store', store, 'stats', 'q'])).disk_usage;
    expect(stats.quota_size_bytes).toBe(8 * MiB);
    expect(stats.exclusive_bytes_used).toBeGreaterThan(4 * MiB);
    expect(stats.exclusive_bytes_used).toBeLessThanOrEqual(9 * MiB);
  } finally {
    expect(await groot(['--store', store, 'delete-store'])).toMatchObject({ code: 0, stdout: '' });
  }
  expect((await mountTable()).filter((x) => x.mountpoint === store || x.mountpoint.startsWith(store + '/'))).toEqual([]);
  expect(execFileSync('losetup', ['-j', `${store}.backing-store`], { encoding: 'utf8' }).trim()).toBe('');
});

test('init-store --store-fs with an unknown filesystem is refused naming the flag', async () => {
  const store = join(dir, `store${++storeN}`);
  const r = await groot(['--store', store, 'init-store', '--store-size-bytes', String(512 * MiB), '--store-fs', 'zfs']);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/--store-fs.*zfs.*xfs, btrfs/);
  await expect(stat(`${store}.backing-store`)).rejects.toMatchObject({ code: 'ENOENT' });
});
