// The CLI launcher's V8 code caches (src/launch/code-cache.ts) on a copy of the real
// bundle: written once, then used (not written again); keyed to the build (a rebuilt
// bundle gets a new cache, the old one goes); a corrupt cache is replaced and costs nothing
// but time; the stage-2 cache is written just before V8 flags change and replaces the
// stage-1 one; import() from the cached bundle still works (the YAML config file); a
// read-only install runs without one.
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/cli.js';
import { mount, umount, MS_BIND, MS_RDONLY, MS_REMOUNT, MNT_DETACH } from '../../src/sys/index.js';

let dir: string;
let bundle: string;

beforeAll(() => {
  // Inside the repository, so the bundle finds node_modules as the real one does.
  dir = mkdtempSync(join(REPO, 'dist', '.code-cache-test-'));
  bundle = join(dir, 'bundle');
  cpSync(join(REPO, 'dist', 'bundle'), bundle, { recursive: true, filter: (f) => !f.endsWith('.v8cache') });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
const caches = () => readdirSync(bundle).filter((f) => f.endsWith('.v8cache')).sort();
const groot = (...args: string[]) => run([join(bundle, 'groot.cjs'), ...args]);

test('the first command writes a stage-1 cache of main.cjs; the next uses it and writes nothing', async () => {
  const first = await groot('--help');
  expect(first.code).toBe(0);
  expect(first.stdout).toContain('Usage: groot');
  const written = caches();
  expect(written).toHaveLength(1);
  expect(written[0]).toMatch(/^main\.cjs\.\d+-\d+-\d+-v[\d_]+\.1\.v8cache$/);
  const before = statSync(join(bundle, written[0]!), { bigint: true });

  const second = await groot('--help');
  expect(second.code).toBe(0);
  expect(second.stdout).toBe(first.stdout);
  expect(caches()).toEqual(written);
  const after = statSync(join(bundle, written[0]!), { bigint: true });
  // Not rewritten: V8 took it (a refused cache is written again).
  expect(after.ino).toBe(before.ino);
  expect(after.mtimeNs).toBe(before.mtimeNs);
});

test('a corrupt cache is refused by V8, the command works, and a good one replaces it', async () => {
  await groot('--help');
  const [name] = caches();
  const garbage = Buffer.alloc(4096, 0x5a);
  writeFileSync(join(bundle, name!), garbage);
  const r = await groot('--help');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('Usage: groot');
  expect(caches()).toEqual([name]);
  expect(readFileSync(join(bundle, name!)).equals(garbage)).toBe(false);
});

test('a rebuilt bundle (new mtime) gets a cache of its own and the old one is removed', async () => {
  await groot('--help');
  const [old] = caches();
  const later = new Date(Date.now() + 5000);
  utimesSync(join(bundle, 'main.cjs'), later, later);
  expect((await groot('--help')).code).toBe(0);
  const now = caches();
  expect(now).toHaveLength(1);
  expect(now[0]).not.toBe(old);
});

test('import() from the cached bundle works (the kube client, an ES module) and YAML loads', async () => {
  await groot('--help'); // a cache is there
  const store = join(dir, 'store-not-made');
  const config = join(dir, 'config.yml');
  writeFileSync(config, `store: ${store}\nlog_level: error\n`);
  const r = await groot('--config', config, 'list');
  // The config was parsed: the store it names is the one asked for.
  expect(r.stderr + r.stdout).toContain(store);

  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: c',
    'clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]',
    'contexts: [{name: c, context: {cluster: k, user: u}}]', 'users: [{name: u, user: {token: t}}]',
  ].join('\n') + '\n');
  const child = spawn(process.execPath, [join(bundle, 'groot.cjs'), '--store', join(dir, 'kstore'), 'controller', '--kube'],
    { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    // Loaded: it lists its kinds (and fails: nothing listens there) instead of dying on import().
    const deadline = Date.now() + 20_000;
    while (!/listing \S+ failed/.test(err) && child.exitCode === null && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    expect(err).not.toContain('dynamic import');
    expect(err).toMatch(/listing \S+ failed/);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
});

test('the stage-2 cache is written just before a V8 flag changes, replaces stage 1, and nothing is written at exit after', async () => {
  // A small file of our own in a directory of its own, through the launcher's module.
  const own = join(dir, 'own');
  mkdirSync(own, { recursive: true });
  cpSync(join(bundle, 'undici.cjs'), join(own, 'lib.cjs'));
  const script = `
    import { useCodeCache } from ${JSON.stringify(join(REPO, 'dist', 'launch', 'code-cache.js'))};
    import { settleV8Flags } from ${JSON.stringify(join(REPO, 'dist', 'sys', 'v8-flags.js'))};
    import { createRequire } from 'node:module';
    import { readdirSync } from 'node:fs';
    useCodeCache(${JSON.stringify(own)});
    createRequire(${JSON.stringify(join(own, 'x.js'))})('./lib.cjs');
    const stage = process.argv[1];
    if (stage === '2') {
      settleV8Flags();
      console.log(readdirSync(${JSON.stringify(own)}).filter((f) => f.endsWith('.v8cache')).join(','));
    }
  `;
  const once = await run(['--input-type=module', '-e', script, '1']);
  expect(once.code).toBe(0);
  expect(readdirSync(own).filter((f) => f.endsWith('.v8cache'))).toEqual([expect.stringMatching(/^lib\.cjs\..*\.1\.v8cache$/)]);
  const twice = await run(['--input-type=module', '-e', script, '2']);
  expect(twice.code).toBe(0);
  // Written at the flag change, before exit; stage 1 gone.
  expect(twice.stdout.trim()).toMatch(/^lib\.cjs\.[^,]*\.2\.v8cache$/);
  expect(readdirSync(own).filter((f) => f.endsWith('.v8cache'))).toEqual([twice.stdout.trim()]);
  // A later process without network (stage 1 at exit) keeps the fuller stage-2 cache.
  expect((await run(['--input-type=module', '-e', script, '1'])).code).toBe(0);
  expect(readdirSync(own).filter((f) => f.endsWith('.v8cache'))).toEqual([twice.stdout.trim()]);
});

test('a full disk: the command runs, and neither a cache nor a temp file is left', async () => {
  const full = join(dir, 'full');
  mkdirSync(full, { recursive: true });
  const files = readdirSync(bundle).filter((f) => f.endsWith('.cjs'));
  const bytes = files.reduce((n, f) => n + statSync(join(bundle, f)).size, 0);
  // Room for the bundle and 64 KiB more: main.cjs's cache (~330 KiB) cannot be written.
  mount('tmpfs', full, 'tmpfs', 0, `size=${bytes + 64 * 1024 + files.length * 4096}`);
  try {
    for (const f of files) cpSync(join(bundle, f), join(full, f));
    const r = await run([join(full, 'groot.cjs'), '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: groot');
    expect(readdirSync(full).sort()).toEqual([...files].sort());
  } finally {
    umount(full, MNT_DETACH);
  }
});

test('a read-only install runs without a cache', async () => {
  rmSync(join(dir, 'ro'), { recursive: true, force: true });
  const ro = join(dir, 'ro');
  cpSync(join(bundle), ro, { recursive: true, filter: (f) => !f.endsWith('.v8cache') });
  mount(ro, ro, null, MS_BIND, null);
  try {
    mount('', ro, null, MS_REMOUNT | MS_BIND | MS_RDONLY, null);
    const r = await run([join(ro, 'groot.cjs'), '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: groot');
    expect(readdirSync(ro).filter((f) => f.endsWith('.v8cache'))).toEqual([]);
  } finally {
    umount(ro, MNT_DETACH);
  }
});
