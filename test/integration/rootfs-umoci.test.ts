// The mounted root filesystem equals what `umoci unpack` makes of the same OCI layout,
// entry for entry: type, mode, owner, size, content, symlink target, device numbers,
// xattrs (without overlayfs's own) and hardlink groups, across whiteouts and opaque dirs.
// (umoci 0.4 reads gzip and plain layers, not zstd, so the fixture uses those two.)
import { mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEngine, type Engine } from '../../src/rootfs/index.js';
import { OverlayEngine } from '../../src/rootfs/engine.js';
import { Store, unmountTree } from '../../src/store/index.js';
import { NoneQuota } from '../../src/quota/none.js';
import { applyLayer } from '../../src/layer/index.js';
import { sha256 } from '../helpers/oci.js';
import { tar } from '../helpers/tar.js';
import { buildImage } from '../helpers/oci.js';
import type { TarEntry } from '../helpers/tar.js';
import { walkTree, diffTrees } from '../helpers/tree.js';

let tmp: string;
let engine: Engine;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'groot-umoci-'));
  engine = await openEngine({ storePath: join(tmp, 'store'), quota: 'none' });
});

afterAll(async () => {
  try {
    await engine.close();
  } finally {
    await unmountTree(tmp);
    rmSync(tmp, { recursive: true, force: true });
  }
});

// VFS_CAP_REVISION_2 with cap_net_bind_service (bit 10) permitted and effective.
const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const longDir = 'long/' + 'd'.repeat(120);
const longName = `${longDir}/${'f'.repeat(140)}.txt`;

const layer1: TarEntry[] = [
  { name: './', type: 'dir', mode: 0o755 },
  { name: 'etc/', type: 'dir' },
  { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' },
  { name: 'etc/shadow', content: 'root:*:19000::::::\n', mode: 0o640, gid: 42 },
  { name: 'bin/', type: 'dir' },
  { name: 'bin/su', content: 'setuid binary', mode: 0o4755 },
  { name: 'bin/wall', content: 'setgid binary', mode: 0o2755, gid: 5 },
  { name: 'bin/su-hardlink', type: 'hardlink', linkname: 'bin/su' },
  { name: 'bin/ping', content: 'capable binary', mode: 0o755, xattrs: { 'security.capability': cap } },
  { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' },
  { name: 'bin/busybox', content: Buffer.alloc(70_000, 0x5a), mode: 0o755 },
  { name: 'tmp/', type: 'dir', mode: 0o1777 },
  { name: 'home/', type: 'dir' },
  { name: 'home/app/', type: 'dir', mode: 0o700, uid: 1000, gid: 1000 },
  { name: 'home/app/.profile', content: 'export A=1\n', uid: 1000, gid: 1000, mode: 0o600 },
  { name: 'home/app/secret', content: '', mode: 0o000, uid: 1000, gid: 1000 },
  { name: 'srv/', type: 'dir', mode: 0o2775, uid: 33, gid: 33, xattrs: { 'user.dir-note': 'kept' } },
  { name: 'srv/data.txt', content: 'data', xattrs: { 'user.origin': 'layer1', 'user.binary': Buffer.from([0, 1, 2, 255]) } },
  { name: 'dev/', type: 'dir' },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/loop0', type: 'block', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
  { name: 'dev/initctl', type: 'fifo', mode: 0o600 },
  { name: 'long/', type: 'dir' },
  { name: `${longDir}/`, type: 'dir' },
  { name: longName, content: 'long name' },
  { name: 'long/link-to-long', type: 'symlink', linkname: longName.slice('long/'.length) },
  { name: 'unicode/', type: 'dir' },
  { name: 'unicode/ünïcødé-文件-🙂.txt', content: 'unicode' },
  { name: 'links/', type: 'dir' },
  { name: 'links/relative', type: 'symlink', linkname: '../etc/passwd' },
  { name: 'links/dangling', type: 'symlink', linkname: 'nowhere/at/all' },
  { name: 'links/dir', type: 'symlink', linkname: '../srv' },
  { name: 'gone/', type: 'dir' },
  { name: 'gone/file.txt', content: 'to be whited out' },
  { name: 'gone/keep.txt', content: 'stays' },
  { name: 'gone/subdir/', type: 'dir' },
  { name: 'gone/subdir/deep.txt', content: 'whole dir whited out' },
  { name: 'opaque/', type: 'dir', mode: 0o750 },
  { name: 'opaque/old-a', content: 'hidden by opaque' },
  { name: 'opaque/old-dir/', type: 'dir' },
  { name: 'opaque/old-dir/x', content: 'hidden too' },
  { name: 'replaced/', type: 'dir' },
  { name: 'replaced/dir-becomes-file/', type: 'dir' },
  { name: 'replaced/dir-becomes-file/inner', content: 'inner' },
  { name: 'replaced/file-becomes-link', content: 'file' },
  { name: 'meta/', type: 'dir', mode: 0o755 },
  { name: 'meta/chmodded', content: 'same content', mode: 0o644 },
];

const layer2: TarEntry[] = [
  { name: 'etc/', type: 'dir' },
  { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
  { name: 'gone/', type: 'dir' },
  { name: 'gone/.wh.file.txt' },
  { name: 'gone/.wh.subdir' },
  { name: 'opaque/', type: 'dir', mode: 0o755, uid: 7, gid: 8 },
  { name: 'opaque/.wh..wh..opq' },
  { name: 'opaque/new', content: 'after opaque' },
  { name: 'replaced/', type: 'dir' },
  { name: 'replaced/dir-becomes-file', content: 'now a file' },
  { name: 'replaced/file-becomes-link', type: 'symlink', linkname: 'dir-becomes-file' },
  { name: 'meta/', type: 'dir', mode: 0o700, uid: 1000, gid: 1000 },
  { name: 'meta/chmodded', content: 'same content', mode: 0o600, uid: 1000 },
  { name: 'srv/', type: 'dir', mode: 0o2775, uid: 33, gid: 33, xattrs: { 'user.dir-note': 'kept' } },
  { name: 'srv/data.txt', content: 'data v2', xattrs: { 'user.origin': 'layer2' } },
  { name: 'l2/', type: 'dir' },
  { name: 'l2/a', content: 'hardlinked in layer 2', uid: 5, gid: 6, mode: 0o604 },
  { name: 'l2/b', type: 'hardlink', linkname: 'l2/a' },
  { name: 'l2/c', type: 'hardlink', linkname: 'l2/a' },
];

const layer3: TarEntry[] = [
  { name: 'gone/', type: 'dir' },
  { name: 'gone/file.txt', content: 'back again in layer 3' },
  { name: 'bin/', type: 'dir' },
  { name: 'bin/.wh.wall' },
  { name: 'dev/', type: 'dir' },
  { name: 'dev/zero', type: 'char', devmajor: 1, devminor: 5, mode: 0o666 },
];

test('groot and umoci unpack a multi-layer image to identical trees', async () => {
  const dir = join(tmp, 'layout');
  await buildImage(dir, { tag: 'fixture', layers: [layer1, layer2, { entries: layer3, compression: 'none' }] });
  const bundle = join(tmp, 'bundle');
  execFileSync('umoci', ['unpack', '--image', `${dir}:fixture`, bundle], { stdio: 'pipe' });

  const { rootfs } = await engine.create({ id: 'cmp', source: `oci://${dir}:fixture` });
  const ours = walkTree(rootfs.path);
  const theirs = walkTree(join(bundle, 'rootfs'));

  // The fixture really exercises what it claims to (so an empty compare cannot pass).
  expect(theirs.get('gone/file.txt')?.sha256).toBeDefined();
  expect(theirs.has('gone/subdir')).toBe(false);
  expect(theirs.has('opaque/old-a')).toBe(false);
  expect(theirs.get('bin/ping')?.xattrs['security.capability']).toBe(cap.toString('base64'));
  expect(theirs.get('l2/a')?.links).toEqual(['l2/b', 'l2/c']);
  expect(theirs.get('dev/loop0')?.rdev).toBe('7:0');
  expect(theirs.get(longName)?.type).toBe('file');
  expect(theirs.has('bin/wall')).toBe(false);

  const diffs = diffTrees(ours, theirs, ['groot', 'umoci']);
  expect(diffs).toEqual([]);
  expect(ours.size).toBe(theirs.size);
  expect(ours.size).toBeGreaterThan(40);
});

/** Dirs a layer needs but does not declare ('.' for an undeclared root). */
function implicitDirsOf(entries: TarEntry[]): string[] {
  const declared = new Set(entries.filter((e) => e.type === 'dir').map((e) => e.name.replace(/\/$/, '').replace(/^\.\/?/, '') || '.'));
  const out = new Set<string>();
  if (!declared.has('.')) out.add('.');
  for (const e of entries) {
    const parts = e.name.replace(/\/$/, '').split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (!declared.has(p)) out.add(p);
    }
  }
  return [...out];
}

test('dirs a layer needs but does not declare keep the attributes the layers below gave them', async () => {
  const l1: TarEntry[] = [
    { name: './', type: 'dir', mode: 0o750 },
    { name: 'a/', type: 'dir', mode: 0o700, uid: 5, gid: 6, xattrs: { 'user.note': 'from layer 1' } },
    { name: 'a/x', content: 'x' },
    { name: 'opq/', type: 'dir', mode: 0o751 },
    { name: 'opq/sub/', type: 'dir', mode: 0o711, uid: 9 },
    { name: 'w/', type: 'dir', mode: 0o701 },
    { name: 'w/d/', type: 'dir', mode: 0o700, uid: 3 },
  ];
  const l2: TarEntry[] = [
    { name: 'a/y', content: 'y' },
    { name: 'deep/new/z', content: 'z' },
    { name: 'w/.wh.d' },
    { name: 'opq/', type: 'dir', mode: 0o755, uid: 4 },
    { name: 'opq/.wh..wh..opq' },
    { name: 'opq/n', content: 'n' },
  ];
  const l3: TarEntry[] = [
    { name: 'w/d/q', content: 'q' },
    { name: 'a/b/c', content: 'c' },
    { name: 'opq/sub/m', content: 'm' },
  ];
  // The layer reports its implicit dirs; where it does not (yet), the fixture says them.
  const implicit = new Map([l1, l2, l3].map((l) => [sha256(tar(l)), implicitDirsOf(l)]));
  const store = await Store.open(join(tmp, 'store-implicit'));
  const eng = new OverlayEngine(store, new NoneQuota(), {
    applyLayer: async (blob, dir, expect, opts) => {
      const r = await applyLayer(blob, dir, expect, opts);
      return { ...r, implicitDirs: r.implicitDirs ?? implicit.get(r.diffID) ?? [] };
    },
  });
  const dir = join(tmp, 'layout-implicit');
  await buildImage(dir, { tag: 't', layers: [l1, l2, l3] });
  const bundle = join(tmp, 'bundle-implicit');
  execFileSync('umoci', ['unpack', '--image', `${dir}:t`, bundle], { stdio: 'pipe' });
  const { rootfs } = await eng.create({ id: 'implicit', source: `oci://${dir}:t` });
  const ours = walkTree(rootfs.path);
  const theirs = walkTree(join(bundle, 'rootfs'));

  expect(theirs.get('.')?.mode).toBe(0o750);
  expect(theirs.get('a')).toMatchObject({ mode: 0o700, uid: 5, gid: 6 });
  expect(theirs.get('opq')).toMatchObject({ mode: 0o755, uid: 4 });
  expect(theirs.get('w/d')).toMatchObject({ mode: 0o755, uid: 0 });
  expect(diffTrees(ours, theirs, ['groot', 'umoci'])).toEqual([]);
});
