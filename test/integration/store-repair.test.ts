// Start-up repair: what interrupted operations leave behind is removed when the store is
// opened, but only when no other process is working in it.
import { mkdtempSync, rmSync, readdirSync, readFileSync, writeFileSync, existsSync, mkdirSync, symlinkSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEngine, type Engine } from '../../src/rootfs/index.js';
import { Store, unmountTree } from '../../src/store/index.js';
import { lockFile, mountOverlay, mountTable } from '../../src/sys/index.js';
import { buildImage } from '../helpers/oci.js';

let tmp: string;
let storePath: string;
let engine: Engine;
let src: string;

beforeEach(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'groot-repair-'));
  storePath = join(tmp, 'store');
  engine = await openEngine({ storePath, quota: 'none' });
  await buildImage(join(tmp, 'img'), { tag: 'v', layers: [[{ name: 'base.txt', content: 'base' }], [{ name: 'top.txt', content: 'top' }]] });
  src = `oci://${join(tmp, 'img')}:v`;
});

afterEach(async () => {
  try {
    await engine.close();
  } finally {
    await unmountTree(tmp);
    rmSync(tmp, { recursive: true, force: true });
  }
});

const S = (...p: string[]) => join(storePath, ...p);
const mounted = async (p: string) => (await mountTable()).some((m) => m.mountpoint === p);

/** Leave the kinds of debris a crash at each step of create, delete, pull or clean leaves. */
async function makeDebris(): Promise<{ halfRoot: string; orphanKey: string }> {
  const { rootfs } = await engine.create({ id: 'good', source: src });
  const rec = (await engine.get('good'))!;
  // A half-unpacked volume and a volume half removed by clean.
  mkdirSync(S('volumes', `${'ab'.repeat(32)}-incomplete-123456`));
  writeFileSync(S('volumes', `${'ab'.repeat(32)}-incomplete-123456`, 'partial'), 'x');
  mkdirSync(S('volumes', `${'cd'.repeat(32)}-incomplete-gc-654321`));
  // Scratch files.
  writeFileSync(S('tmp', 'download-1'), 'junk');
  mkdirSync(S('tmp', 'dir'));
  // A volume record whose volume never got renamed into place, with its short link.
  const orphanKey = 'ef'.repeat(32);
  symlinkSync(`../volumes/${orphanKey}`, S('l', 'ORPHAN0000'));
  writeFileSync(S('meta', 'volumes', `${orphanKey}.json`), JSON.stringify({ chainID: `sha256:${orphanKey}`, shortLink: 'ORPHAN0000', size: 1 }));
  // A dangling link and an interrupted atomic write.
  symlinkSync('../volumes/nothing', S('l', 'DANGLING00'));
  // A re-link interrupted before its record was written: a whole volume with a spare link.
  const wholeKey = readdirSync(S('volumes')).find((v) => !v.includes('-incomplete-'))!;
  symlinkSync(`../volumes/${wholeKey}`, S('l', 'SPARE00000'));
  // Something in l/ that is not a link at all.
  writeFileSync(S('l', 'NOTALINK00'), 'x');
  writeFileSync(S('meta', 'images', '.x.json.tmp-abcdef'), '{');
  // A rootfs whose create died after mounting but before its record (mounted!), and one
  // whose delete died after removing the record.
  const half = S('images', 'half');
  for (const d of ['rootfs', 'diff', 'workdir']) mkdirSync(join(half, d), { recursive: true });
  const lower = rec.mount.options[0]!.split(',')[0]!.slice('lowerdir='.length).split(':');
  mountOverlay({ lowers: lower, upper: join(half, 'diff'), work: join(half, 'workdir'), target: join(half, 'rootfs') });
  expect(await mounted(join(half, 'rootfs'))).toBe(true);
  mkdirSync(S('images', 'halfdeleted', 'diff'), { recursive: true });
  writeFileSync(S('images', 'stray-file'), 'not a rootfs');
  // A record whose dir is gone.
  writeFileSync(S('meta', 'rootfs', 'ghost.json'), JSON.stringify({ ...rec, id: 'ghost', path: S('images/ghost/rootfs'), quotaBytes: 0, imageSize: 0 }));
  expect(readFileSync(join(rootfs.path, 'top.txt'), 'utf8')).toBe('top');
  return { halfRoot: join(half, 'rootfs'), orphanKey };
}

test('opening the store removes every kind of debris and keeps what is whole', async () => {
  const { halfRoot, orphanKey } = await makeDebris();
  const volsBefore = readdirSync(S('volumes')).filter((v) => !v.includes('-incomplete-')).sort();
  expect(volsBefore).toHaveLength(2);

  const again = await openEngine({ storePath, quota: 'none' });
  try {
    expect(readdirSync(S('volumes')).sort()).toEqual(volsBefore);
    expect(readdirSync(S('tmp'))).toEqual([]);
    expect(existsSync(S('meta', 'volumes', `${orphanKey}.json`))).toBe(false);
    // One link per whole volume, the one its record names.
    const ownLinks = readdirSync(S('meta', 'volumes')).map((f) => JSON.parse(readFileSync(S('meta', 'volumes', f), 'utf8')).shortLink as string).sort();
    expect(readdirSync(S('l')).sort()).toEqual(ownLinks);
    expect(ownLinks).toHaveLength(2);
    for (const l of readdirSync(S('l'))) expect(lstatSync(S('l', l)).isSymbolicLink()).toBe(true);
    expect(readdirSync(S('meta', 'images')).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(await mounted(halfRoot)).toBe(false);
    expect(readdirSync(S('images'))).toEqual(['good']);
    expect(existsSync(S('meta', 'rootfs', 'ghost.json'))).toBe(false);
    // The whole rootfs is untouched and still works.
    const good = await again.get('good');
    expect(good?.mounted).toBe(true);
    expect(readFileSync(join(good!.path, 'base.txt'), 'utf8')).toBe('base');
    // And the ids of the half-made ones can be created afresh.
    const { rootfs } = await again.create({ id: 'half', source: src });
    expect(readFileSync(join(rootfs.path, 'top.txt'), 'utf8')).toBe('top');
  } finally {
    await again.close();
  }
});

test('repair waits for a store nobody else is using: with another process in it, debris stays', async () => {
  mkdirSync(S('volumes', `${'ab'.repeat(32)}-incomplete-999999`));
  const held = await lockFile(S('locks', 'store.lock'), 'shared');
  try {
    const busy = await openEngine({ storePath, quota: 'none' });
    await busy.close();
    // Could be someone's unpack in progress: left alone.
    expect(existsSync(S('volumes', `${'ab'.repeat(32)}-incomplete-999999`))).toBe(true);
  } finally {
    await held.release();
  }
  const idle = await Store.open(storePath);
  expect(idle.path).toBe(storePath);
  expect(existsSync(S('volumes', `${'ab'.repeat(32)}-incomplete-999999`))).toBe(false);
});

test('create over the remains of an interrupted create of the same id replaces them', async () => {
  mkdirSync(S('images', 'again', 'diff'), { recursive: true });
  writeFileSync(S('images', 'again', 'diff', 'stale'), 'old');
  // Repair does not run here (the dir appeared after open); create itself handles it.
  const { rootfs } = await engine.create({ id: 'again', source: src });
  expect(existsSync(join(rootfs.path, 'stale'))).toBe(false);
  expect(readFileSync(join(rootfs.path, 'top.txt'), 'utf8')).toBe('top');
});

test('a missing short link is made again at create; a removed volume is unpacked again', async () => {
  await engine.pull(src);
  for (const l of readdirSync(S('l'))) rmSync(S('l', l));
  const { rootfs } = await engine.create({ id: 'relinked', source: src });
  expect(readFileSync(join(rootfs.path, 'base.txt'), 'utf8')).toBe('base');
  expect(readdirSync(S('l'))).toHaveLength(2);
  await engine.delete('relinked');
  // A volume dir removed by hand (its record stays): pulled again instead of mounting nothing.
  const vol = readdirSync(S('volumes'))[0]!;
  rmSync(S('volumes', vol), { recursive: true });
  const { rootfs: r2 } = await engine.create({ id: 'again2', source: src });
  expect(readFileSync(join(r2.path, 'base.txt'), 'utf8')).toBe('base');
  expect(readFileSync(join(r2.path, 'top.txt'), 'utf8')).toBe('top');
});
