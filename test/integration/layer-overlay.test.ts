// Whiteouts and opaque directories that overlayfs really honours: two layers unpacked by
// applyLayer, mounted as overlay lowers, must show what `umoci unpack` of the same image
// shows (it applies the layers one over the other into one directory).
import { execFileSync } from 'node:child_process';
import { mkdirSync, existsSync, readdirSync, readFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { applyLayer } from '../../src/layer/index.js';
import { mountOverlay, umount, MNT_DETACH, lgetxattr } from '../../src/sys/index.js';
import { tar, type TarEntry } from '../helpers/tar.js';
import { buildImage, sha256 } from '../helpers/oci.js';
import { snapshot, comparable, streamOf, tempDir, removeDir } from './layer-tree.js';

const base: TarEntry[] = [
  { name: 'a/', type: 'dir' },
  { name: 'a/keep', content: 'kept' },
  { name: 'a/gone', content: 'hidden by a whiteout' },
  { name: 'dir/', type: 'dir' },
  { name: 'dir/x', content: 'x' },
  { name: 'dir/sub/', type: 'dir' },
  { name: 'dir/sub/y', content: 'y' },
  { name: 'opq/', type: 'dir', mode: 0o750 },
  { name: 'opq/old', content: 'hidden by opaque' },
  { name: 'opq/sub/', type: 'dir' },
  { name: 'opq/sub/old2', content: 'hidden too' },
  { name: 'f', content: 'root file, whited out' },
  { name: 'recreated/', type: 'dir' },
  { name: 'recreated/old', content: 'hidden: the dir is deleted and made again' },
  { name: 'same-layer/', type: 'dir' },
  { name: 'same-layer/old', content: 'hidden' },
  { name: 'file-then-dir', content: 'becomes a dir above' },
  { name: 'link', type: 'symlink', linkname: 'a/keep' },
];

const top: TarEntry[] = [
  { name: 'a/', type: 'dir' },
  { name: 'a/.wh.gone', content: '' },
  { name: 'a/new', content: 'new in top' },
  { name: '.wh.dir', content: '' },
  { name: 'opq/', type: 'dir', mode: 0o755 },
  { name: 'opq/.wh..wh..opq', content: '' },
  { name: 'opq/new', content: 'only this is visible' },
  { name: '.wh.f', content: '' },
  // Deleted and re-created in one layer: whiteout first (as OCI recommends) ...
  { name: '.wh.recreated', content: '' },
  { name: 'recreated/', type: 'dir' },
  { name: 'recreated/fresh', content: 'fresh' },
  // ... or after the new directory (the whiteout still only concerns lower layers).
  { name: 'same-layer/', type: 'dir' },
  { name: 'same-layer/mine', content: 'mine' },
  { name: '.wh.same-layer', content: '' },
  { name: 'file-then-dir/', type: 'dir' },
  { name: 'file-then-dir/inside', content: 'inside' },
  { name: '.wh.link', content: '' },
  // Not here: a whiteout in a directory that no lower layer has. The kernel reads such a
  // non-merged directory straight from the layer, so the whiteout shows in readdir (and
  // fails stat). Layers from real diffs never have one; docker's overlay2 and containerd
  // behave the same, as layers are unpacked without looking at the layers below.
  { name: 'nested/deeper/', type: 'dir' },
];

let work: string;
const mounts: string[] = [];

beforeAll(() => { work = tempDir('layer-overlay-'); });
afterEach(() => {
  for (const m of mounts.splice(0)) umount(m, MNT_DETACH);
});
afterAll(() => removeDir(work));

async function unpack(entries: TarEntry[], name: string, userXattrs: boolean): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  const raw = tar(entries);
  await applyLayer(streamOf(raw), dir, { label: name, diffID: sha256(raw) }, { userXattrs });
  return dir;
}

let seq = 0;
async function mounted(userXattrs: boolean): Promise<{ mnt: string; lower: string; upper: string }> {
  const tag = `${userXattrs ? 'user' : 'trusted'}-${seq++}`;
  const lower = await unpack(base, `base-${tag}`, userXattrs);
  const upper = await unpack(top, `top-${tag}`, userXattrs);
  const mnt = join(work, `mnt-${tag}`);
  mkdirSync(mnt);
  mountOverlay({ lowers: [upper, lower], target: mnt, readonly: true, extra: userXattrs ? ['userxattr'] : [] });
  mounts.push(mnt);
  return { mnt, lower, upper };
}

describe.each([false, true])('overlay of two unpacked layers (userXattrs=%s)', (userXattrs) => {
  test('whiteouts hide files and directories, opaque dirs hide lower contents', async () => {
    const { mnt, upper } = await mounted(userXattrs);
    expect(readdirSync(join(mnt, 'a')).sort()).toEqual(['keep', 'new']);
    expect(existsSync(join(mnt, 'dir'))).toBe(false);
    expect(existsSync(join(mnt, 'f'))).toBe(false);
    expect(existsSync(join(mnt, 'link'))).toBe(false);
    expect(readdirSync(join(mnt, 'opq'))).toEqual(['new']);
    expect(lstatSync(join(mnt, 'opq')).mode & 0o7777).toBe(0o755);
    expect(readdirSync(join(mnt, 'recreated'))).toEqual(['fresh']);
    expect(readdirSync(join(mnt, 'same-layer'))).toEqual(['mine']);
    expect(readdirSync(join(mnt, 'file-then-dir'))).toEqual(['inside']);
    expect(readdirSync(mnt).sort()).toEqual(['a', 'file-then-dir', 'nested', 'opq', 'recreated', 'same-layer']);
    expect(readFileSync(join(mnt, 'a/keep'), 'utf8')).toBe('kept');

    // What the layer dir holds: the kernel's representation for the chosen mode.
    const prefix = userXattrs ? 'user.overlay.' : 'trusted.overlay.';
    const wh = lstatSync(join(upper, 'a/gone'));
    if (userXattrs) {
      expect(wh.isFile() && wh.size === 0).toBe(true);
      expect(lgetxattr(join(upper, 'a/gone'), 'user.overlay.whiteout')).toBeDefined();
      expect(lgetxattr(join(upper, 'a'), 'user.overlay.opaque')?.toString()).toBe('x');
      expect(lgetxattr(upper, 'user.overlay.opaque')?.toString()).toBe('x');
    } else {
      expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
      expect(lgetxattr(join(upper, 'a'), 'trusted.overlay.opaque')).toBeUndefined();
    }
    expect(lgetxattr(join(upper, 'opq'), prefix + 'opaque')?.toString()).toBe('y');
    expect(lgetxattr(join(upper, 'recreated'), prefix + 'opaque')?.toString()).toBe('y');
    expect(lgetxattr(join(upper, 'same-layer'), prefix + 'opaque')?.toString()).toBe('y');
  });
});

test('the mounted layers equal `umoci unpack` of the same image, entry for entry', async () => {
  const { mnt } = await mounted(false);
  const layout = join(work, 'oci');
  await buildImage(layout, { tag: 'v1', layers: [base, top], compression: 'gzip' });
  const bundle = join(work, 'bundle');
  execFileSync('umoci', ['unpack', '--image', `${layout}:v1`, bundle], { stdio: 'pipe' });
  const ours = comparable(snapshot(mnt), { ignoreRoot: true, implicitDirs: true });
  const theirs = comparable(snapshot(join(bundle, 'rootfs')), { ignoreRoot: true, implicitDirs: true });
  // Directory mtimes: umoci restores them, but a merged overlay dir shows the top layer's.
  for (const t of [ours, theirs]) for (const e of Object.values(t)) if (e.type === 'dir') delete e.mtimeNs;
  expect(Object.keys(ours).sort()).toEqual(["a", "a/keep", "a/new", "file-then-dir", "file-then-dir/inside", "nested", "nested/deeper", "opq", "opq/new", "recreated", "recreated/fresh", "same-layer", "same-layer/mine"]);
  expect(ours).toEqual(theirs);
});
