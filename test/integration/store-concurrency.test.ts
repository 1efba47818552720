// Several processes on one store: concurrent creates needing the same layers unpack them
// once and both succeed; clean running beside a create cannot break it; a killed create
// leaves only garbage that the next open removes. Children run the built engine (dist/).
import { mkdtempSync, rmSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { openEngine, type Engine } from '../../src/rootfs/index.js';
import { unmountTree } from '../../src/store/index.js';
import { buildImage } from '../helpers/oci.js';
import type { TarEntry } from '../helpers/tar.js';

const repo = resolve(import.meta.dirname, '../..');
const dist = join(repo, 'dist', 'rootfs', 'index.js');

let tmp: string;
let storePath: string;
let engine: Engine;
const children: ChildProcess[] = [];

beforeAll(() => {
  // The children import the compiled engine; build it when missing (npm test builds first).
  if (!existsSync(dist)) {
    try { execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repo, stdio: 'ignore' }); } catch { /* emitted anyway */ }
  }
}, 180_000);

beforeEach(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'groot-conc-'));
  storePath = join(tmp, 'store');
  engine = await openEngine({ storePath, quota: 'none' });
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sleep(50);
  try {
    await engine.close();
  } finally {
    await unmountTree(tmp);
    rmSync(tmp, { recursive: true, force: true });
  }
});

// A child: open the engine, say "ready", wait for the go file, create, print the outcome.
const CHILD = `
import { writeFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
const [dist, storePath, id, source, dir] = process.argv.slice(2);
const { openEngine } = await import(dist);
const e = await openEngine({ storePath, quota: 'none' });
writeFileSync(dir + '/ready-' + id, '');
while (!existsSync(dir + '/go')) await sleep(5);
let states = [];
const started = Date.now();
try {
  const r = await e.create({ id, source, onProgress: (p) => { states = p.layers.map((l) => l.state); } });
  process.stdout.write(JSON.stringify({ ok: true, states, path: r.spec.root.path, started, ended: Date.now() }));
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, message: err.message, code: err.code }));
}
`;

interface ChildResult { ok: boolean; states?: string[]; path?: string; message?: string; started?: number; ended?: number }

function runChild(id: string, source: string): { proc: ChildProcess; done: Promise<ChildResult> } {
  const script = join(tmp, 'child.mjs');
  if (!existsSync(script)) writeFileSync(script, CHILD);
  const proc = spawn(process.execPath, [script, dist, storePath, id, source, tmp], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  let out = '', err = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { err += d; });
  const done = new Promise<ChildResult>((res, rej) => {
    proc.on('exit', (code) => {
      try { res(JSON.parse(out) as ChildResult); } catch { rej(new Error(`child ${id} exited ${code}: ${out} ${err}`)); }
    });
  });
  return { proc, done };
}

async function waitFor(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Layers big enough (random, so gzip cannot shrink them) that unpacking takes a while. */
function bigLayers(n: number, mib: number): TarEntry[][] {
  return Array.from({ length: n }, (_, i) => [{ name: `blob-${i}.bin`, content: randomBytes(mib << 20) }, { name: `marker-${i}`, content: `${i}` }]);
}

const volumes = () => readdirSync(join(storePath, 'volumes')).sort();

test('two processes creating from images that share layers unpack each layer once, and both succeed', async () => {
  const shared = bigLayers(3, 6);
  await buildImage(join(tmp, 'a'), { tag: 'v', layers: [...shared, [{ name: 'a', content: 'a' }]] });
  await buildImage(join(tmp, 'b'), { tag: 'v', layers: [...shared, [{ name: 'b', content: 'b' }]] });
  const A = runChild('ca', `oci://${join(tmp, 'a')}:v`);
  const B = runChild('cb', `oci://${join(tmp, 'b')}:v`);
  await waitFor(() => existsSync(join(tmp, 'ready-ca')) && existsSync(join(tmp, 'ready-cb')), 'children ready');
  writeFileSync(join(tmp, 'go'), '');
  const [ra, rb] = await Promise.all([A.done, B.done]);
  expect(ra).toMatchObject({ ok: true });
  expect(rb).toMatchObject({ ok: true });
  // Both ran at once: each started before the other ended.
  expect(ra.started!).toBeLessThan(rb.ended!);
  expect(rb.started!).toBeLessThan(ra.ended!);
  // Each shared layer was unpacked by exactly one of them; the other found it cached.
  for (let i = 0; i < 3; i++) {
    expect([ra.states![i], rb.states![i]].sort()).toEqual(['cached', 'done']);
  }
  expect(ra.states![3]).toBe('done');
  expect(rb.states![3]).toBe('done');
  expect(volumes()).toHaveLength(5);
  expect(volumes().some((v) => v.includes('-incomplete-'))).toBe(false);
  for (const [id, own] of [['ca', 'a'], ['cb', 'b']] as const) {
    const root = join(storePath, 'images', id, 'rootfs');
    expect(readFileSync(join(root, own), 'utf8')).toBe(own);
    expect(readFileSync(join(root, 'marker-0'), 'utf8')).toBe('0');
    expect(readFileSync(join(root, 'blob-2.bin')).length).toBe(6 << 20);
  }
}, 240_000);

test('clean running beside a create in another process cannot break it', async () => {
  await buildImage(join(tmp, 'img'), { tag: 'v', layers: bigLayers(3, 6) });
  // Unused volumes for clean to find while the create runs.
  await buildImage(join(tmp, 'junk'), { tag: 'v', layers: [[{ name: 'junk', content: 'j' }]] });
  await engine.pull(`oci://${join(tmp, 'junk')}:v`);
  const C = runChild('cc', `oci://${join(tmp, 'img')}:v`);
  await waitFor(() => existsSync(join(tmp, 'ready-cc')), 'child ready');
  writeFileSync(join(tmp, 'go'), '');
  let cleans = 0;
  let finished = false;
  const result = C.done.finally(() => { finished = true; });
  while (!finished) {
    await engine.clean();
    cleans++;
    await sleep(5);
  }
  const r = await result;
  expect(r).toMatchObject({ ok: true });
  // A clean waits for the create's shared store lock, so under load it may run only once.
  expect(cleans).toBeGreaterThanOrEqual(1);
  // The rootfs is whole and its volumes survived every clean, before and after.
  await engine.clean();
  const root = join(storePath, 'images', 'cc', 'rootfs');
  for (let i = 0; i < 3; i++) expect(readFileSync(join(root, `marker-${i}`), 'utf8')).toBe(`${i}`);
  expect(volumes()).toHaveLength(3);
  expect((await engine.get('cc'))!.mounted).toBe(true);
}, 240_000);

test('a create killed mid-unpack leaves garbage that the next open removes; creating again works', async () => {
  await buildImage(join(tmp, 'img'), { tag: 'v', layers: bigLayers(2, 24) });
  const K = runChild('killed', `oci://${join(tmp, 'img')}:v`);
  K.done.catch(() => undefined); // it is killed: no result
  await waitFor(() => existsSync(join(tmp, 'ready-killed')), 'child ready');
  writeFileSync(join(tmp, 'go'), '');
  await waitFor(() => volumes().some((v) => v.includes('-incomplete-')), 'an unpack in progress');
  K.proc.kill('SIGKILL');
  await new Promise((r) => K.proc.once('exit', r));
  expect(volumes().some((v) => v.includes('-incomplete-'))).toBe(true);

  const again = await openEngine({ storePath, quota: 'none' });
  expect(volumes().some((v) => v.includes('-incomplete-'))).toBe(false);
  const { rootfs } = await again.create({ id: 'killed', source: `oci://${join(tmp, 'img')}:v` });
  expect(readFileSync(join(rootfs.path, 'marker-1'), 'utf8')).toBe('1');
  expect(volumes()).toHaveLength(2);
  await again.close();
}, 240_000);

test('creates in one process that share layers run together and unpack once', async () => {
  const shared = bigLayers(2, 2);
  await buildImage(join(tmp, 'a'), { tag: 'v', layers: [...shared, [{ name: 'a', content: 'a' }]] });
  await buildImage(join(tmp, 'b'), { tag: 'v', layers: [...shared, [{ name: 'b', content: 'b' }]] });
  const states: Record<string, string[]> = {};
  await Promise.all(['a', 'b'].map((n) => engine.create({
    id: `p${n}`, source: `oci://${join(tmp, n)}:v`, onProgress: (p) => { states[n] = p.layers.map((l) => l.state); },
  })));
  for (let i = 0; i < 2; i++) expect([states.a![i], states.b![i]].sort()).toEqual(['cached', 'done']);
  expect(volumes()).toHaveLength(4);
}, 120_000);
