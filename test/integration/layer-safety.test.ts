// Every path attack a layer can try, each as a tar built byte by byte. The rule (see
// src/layer/paths.ts and writer.ts): leading "/" is stripped (confined), ".." is refused,
// and nothing is ever written through a symlink: such entries are refused with
// UnsafeLayerError naming the layer and the entry. In every case the world outside the
// layer directory must stay exactly as it was.
import { mkdirSync, writeFileSync, readFileSync, existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { applyLayer } from '../../src/layer/index.js';
import { UnsafeLayerError, InvalidLayerError } from '../../src/errors/index.js';
import { lgetxattr } from '../../src/sys/index.js';
import { tar, type TarEntry } from '../helpers/tar.js';
import { snapshot, comparable, streamOf, tempDir, removeDir } from './layer-tree.js';

const LABEL = 'layer 3/7 sha256:attack of oci:///evil:latest';

let base: string; // holds outside/ and the layer dirs
let outside: string; // what an attack would like to touch
let before: ReturnType<typeof comparable>;
let n = 0;

beforeAll(() => {
  base = tempDir('layer-safety-');
  outside = join(base, 'outside');
  mkdirSync(join(outside, 'etc'), { recursive: true });
  writeFileSync(join(outside, 'etc', 'passwd'), 'root:x:0:0\n');
  writeFileSync(join(outside, 'victim'), 'precious');
  before = comparable(snapshot(outside));
});
afterAll(() => removeDir(base));
afterEach(() => {
  // Whatever the test did, nothing outside the layer changed.
  expect(comparable(snapshot(outside))).toEqual(before);
  expect(readdirSync(base).filter((x) => !x.startsWith('layer') && x !== 'outside')).toEqual([]);
});

/** A layer dir three levels below base, so "../../.." from it lands in base (next to outside/). */
function layerDir(): string {
  const d = join(base, `layer${n++}`, 'volumes', 'vol');
  mkdirSync(d, { recursive: true });
  return d;
}

async function attempt(entries: TarEntry[]): Promise<{ dir: string; error?: Error }> {
  const dir = layerDir();
  try {
    await applyLayer(streamOf(tar(entries), 700), dir, { label: LABEL });
    return { dir };
  } catch (e) {
    return { dir, error: e as Error };
  }
}

async function refused(entries: TarEntry[], entryName: string, cls: typeof UnsafeLayerError | typeof InvalidLayerError = UnsafeLayerError): Promise<Error> {
  const { error } = await attempt(entries);
  expect(error).toBeInstanceOf(cls);
  expect(error!.message).toContain(LABEL);
  expect(error!.message).toContain(JSON.stringify(entryName));
  return error!;
}

describe('names', () => {
  test('"../" names are refused', async () => {
    const e = await refused([{ name: '../escaped', content: 'x' }, { name: '../../../outside/victim', content: 'x' }], '../escaped');
    expect(e.message).toMatch(/"\.\." component; refused/);
    expect(existsSync(join(base, `layer${n - 1}`, 'volumes', 'escaped'))).toBe(false);
  });

  test('"a/../../x" is refused even though it starts inside', async () => {
    await refused([{ name: 'a/', type: 'dir' }, { name: 'a/../../x', content: 'x' }], 'a/../../x');
    await refused([{ name: './../../outside/victim', content: 'x' }], './../../outside/victim');
  });

  test('a ".." inside a long PAX name is refused', async () => {
    const name = 'a/'.repeat(60) + '../'.repeat(70) + 'outside/victim';
    await refused([{ name, content: 'overwritten' }], name);
  });

  test('absolute names are confined to the layer (leading "/" stripped, as tar does)', async () => {
    const abs = join(outside, 'victim');
    const { dir, error } = await attempt([{ name: abs, content: 'confined' }, { name: '//etc//passwd', content: 'also confined' }]);
    expect(error).toBeUndefined();
    expect(readFileSync(join(dir, abs.slice(1)), 'utf8')).toBe('confined');
    expect(readFileSync(join(dir, 'etc/passwd'), 'utf8')).toBe('also confined');
  });

  test('a name with a NUL byte (PAX path) is refused as a malformed header (Go and BSD tar refuse it too)', async () => {
    const { error } = await attempt([{ name: 'ok', pax: { path: 'a\0b' }, content: 'x' }]);
    expect(error).toBeInstanceOf(InvalidLayerError);
    expect(error!.message).toBe(`${LABEL}: PAX path has a NUL byte`);
  });

  test('an entry for the layer root that is not a directory is ignored (containerd skips root entries); the root stays a directory', async () => {
    const { dir, error } = await attempt([
      { name: './', content: 'x' },
      { name: '.', type: 'symlink', linkname: outside },
      { name: '/', type: 'hardlink', linkname: 'f' },
      { name: 'f', content: 'inside' },
    ]);
    expect(error).toBeUndefined();
    expect(lstatSync(dir).isDirectory()).toBe(true);
    expect(readdirSync(dir)).toEqual(['f']);
  });
});

describe('symlinks made by the layer', () => {
  test('absolute symlink then a file through it ("ln -s /etc evil; evil/passwd")', async () => {
    const e = await refused([
      { name: 'evil', type: 'symlink', linkname: join(outside, 'etc') },
      { name: 'evil/passwd', content: 'pwned' },
    ], 'evil/passwd');
    expect(e.message).toContain('would be written through the symlink "evil"');
  });

  test('relative symlink climbing out ("ln -s ../../.. up; up/outside/victim")', async () => {
    await refused([
      { name: 'up', type: 'symlink', linkname: '../../..' },
      { name: 'up/outside/victim', content: 'pwned' },
    ], 'up/outside/victim');
  });

  test('a symlink to "." inside the layer is not followed either (one rule for all)', async () => {
    await refused([{ name: 'self', type: 'symlink', linkname: '.' }, { name: 'self/self/x', content: 'x' }], 'self/self/x');
  });

  test('a symlink replacing a directory mid-stream', async () => {
    const e = await refused([
      { name: 'd/', type: 'dir' },
      { name: 'd/ok', content: 'fine' },
      { name: 'd', type: 'symlink', linkname: outside },
      { name: 'd/victim', content: 'pwned' },
    ], 'd/victim');
    expect(e).toBeInstanceOf(UnsafeLayerError);
  });

  test('a deep parent that is a symlink', async () => {
    await refused([
      { name: 'a/b/', type: 'dir' },
      { name: 'a/b/c', type: 'symlink', linkname: outside },
      { name: 'a/b/c/etc/passwd', content: 'pwned' },
    ], 'a/b/c/etc/passwd');
  });

  test('a directory entry over a symlink replaces the link, never follows it', async () => {
    const { dir, error } = await attempt([
      { name: 'evil', type: 'symlink', linkname: outside },
      { name: 'evil/', type: 'dir', mode: 0o700 },
      { name: 'evil/new', content: 'inside' },
    ]);
    expect(error).toBeUndefined();
    expect(lstatSync(join(dir, 'evil')).isDirectory()).toBe(true);
    expect(readFileSync(join(dir, 'evil/new'), 'utf8')).toBe('inside');
  });

  test('file, device and symlink entries over a symlink replace the link', async () => {
    const { dir, error } = await attempt([
      { name: 'a', type: 'symlink', linkname: join(outside, 'victim') },
      { name: 'a', content: 'new file' },
      { name: 'b', type: 'symlink', linkname: join(outside, 'victim') },
      { name: 'b', type: 'fifo' },
      { name: 'c', type: 'symlink', linkname: join(outside, 'victim') },
      { name: 'c', type: 'symlink', linkname: 'elsewhere' },
    ]);
    expect(error).toBeUndefined();
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('new file');
    expect(lstatSync(join(dir, 'b')).isFIFO()).toBe(true);
    expect(lstatSync(join(dir, 'c')).isSymbolicLink()).toBe(true);
  });
});

describe('hardlinks', () => {
  test('a target with ".." is refused', async () => {
    const e = await refused([{ name: 'h', type: 'hardlink', linkname: '../../outside/victim' }], 'h');
    expect(e.message).toMatch(/links to .* which has a "\.\." component/);
  });

  test('an absolute target is looked up inside the layer, never on the host', async () => {
    const e = await refused([{ name: 'h', type: 'hardlink', linkname: join(outside, 'victim') }], 'h', InvalidLayerError);
    expect(e.message).toMatch(/which is not (\(yet\) )?in this layer/);
  });

  test('a target through a symlink is refused', async () => {
    const e = await refused([
      { name: 'evil', type: 'symlink', linkname: outside },
      { name: 'h', type: 'hardlink', linkname: 'evil/victim' },
    ], 'h');
    expect(e.message).toContain('through the symlink "evil"');
  });

  test('a link to a symlink links the symlink itself (never its target)', async () => {
    const { dir, error } = await attempt([
      { name: 's', type: 'symlink', linkname: join(outside, 'victim') },
      { name: 'h', type: 'hardlink', linkname: 's' },
      { name: 'h', content: 'replaces the link, does not write through it' },
    ]);
    expect(error).toBeUndefined();
    expect(lstatSync(join(dir, 's')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(dir, 'h')).isFile()).toBe(true);
  });

  test('a target that is not in the layer (yet), or is a directory', async () => {
    await refused([{ name: 'h', type: 'hardlink', linkname: 'later' }, { name: 'later', content: 'x' }], 'h', InvalidLayerError);
    await refused([{ name: 'd/', type: 'dir' }, { name: 'h', type: 'hardlink', linkname: 'd' }], 'h', InvalidLayerError);
  });
});

describe('whiteouts', () => {
  test('".wh.." and ".wh..." (whiteouts of "." and "..") are refused', async () => {
    await refused([{ name: 'a/.wh...', content: '' }], 'a/.wh...');
    await refused([{ name: '.wh..', content: '' }], '.wh..');
  });

  test('a whiteout with ".." in its path is refused', async () => {
    await refused([{ name: '../.wh.victim', content: '' }], '../.wh.victim');
  });

  test('a whiteout or opaque marker through a symlink is refused (no device or xattr lands outside)', async () => {
    await refused([{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/.wh.victim', content: '' }], 'evil/.wh.victim');
    await refused([{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/.wh..wh..opq', content: '' }], 'evil/.wh..wh..opq');
    expect(lgetxattr(outside, 'trusted.overlay.opaque')).toBeUndefined();
  });

  test('overlay xattrs an entry carries are never applied (they would forge whiteouts, opaque dirs, redirects); the entry is', async () => {
    // containerd drops trusted.* from archives; rootless podman builds carry user.overlay.origin.
    const { dir, error } = await attempt([
      { name: 'd/', type: 'dir', xattrs: { 'trusted.overlay.opaque': 'y', 'user.kept': 'k' } },
      { name: 'd/f', content: 'x', xattrs: { 'user.overlay.whiteout': '', 'user.overlay.origin': '' } },
      { name: 'r', content: 'r', xattrs: { 'trusted.overlay.redirect': '/etc', 'trusted.overlay.metacopy': '' } },
    ]);
    expect(error).toBeUndefined();
    const t = snapshot(dir);
    expect(t.get('d')!.xattrs).toEqual({ 'user.kept': Buffer.from('k').toString('hex') });
    expect(t.get('d/f')).toMatchObject({ type: 'file', size: 1, xattrs: {} });
    expect(t.get('r')).toMatchObject({ type: 'file', xattrs: {} });
  });
});
