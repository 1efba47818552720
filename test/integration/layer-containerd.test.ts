// The same layers unpacked by applyLayer and by containerd itself (`ctr images import`
// with the native snapshotter, which applies a layer with containerd's archive code into a
// plain directory) give the same tree, entry for entry (type, mode, owner, size, content,
// link target, device, xattrs, hardlink groups). The layers are the odd ones: old-tar type
// flags, sized hardlinks, last-header-wins, odd octal fields, PAX sparse files (dense in
// containerd, with holes here: same content), empty archives, trailing bytes.
// Not compared: the root directory (containerd skips root entries; groot applies a
// directory's attributes, as docker and umoci do) and cases where groot deliberately
// differs (whiteouts become overlay whiteouts here; trusted.* and security.selinux; a
// hardlink header's own mode/owner/mtime, which containerd applies to the shared inode and
// groot, like umoci and GNU tar, does not: real writers copy them from the target anyway).
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyLayer } from '../../src/layer/index.js';
import { buildImage, sha256 } from '../helpers/oci.js';
import { tarEntry, type TarEntry } from '../helpers/tar.js';
import { umount, MNT_DETACH, mountTable } from '../../src/sys/index.js';
import { snapshot, comparable, hardlinkGroups, streamOf, tempDir, removeDir } from './layer-tree.js';
import { rawHeader, body, paxHeader, END } from './layer-raw.js';

let work: string;
let containerd: ChildProcess | undefined;
let sock: string;
let seq = 0;

beforeAll(async () => {
  work = tempDir('layer-containerd-');
  sock = join(work, 'c.sock');
  writeFileSync(join(work, 'config.toml'), [
    'version = 2', `root = "${work}/root"`, `state = "${work}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]', `  address = "${sock}"`, '[ttrpc]', `  address = "${sock}.ttrpc"`,
    '[debug]', `  address = "${work}/debug.sock"`, '  level = "warn"', '[metrics]', '  address = ""',
  ].join('\n') + '\n');
  const child = spawn('containerd', ['--config', join(work, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  containerd = child;
  let log = '';
  child.stderr!.on('data', (d) => { log = (log + d).slice(-4000); });
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if (existsSync(sock) && spawnSync('ctr', ['--address', sock, 'version'], { stdio: 'ignore' }).status === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`containerd did not start: ${log}`);
}, 30_000);

afterAll(async () => {
  try {
    const c = containerd;
    if (c && c.exitCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, 10_000); })]);
      clearTimeout(timer);
      if (c.exitCode === null) c.kill('SIGKILL');
    }
    c?.stderr?.destroy();
  } finally {
    // containerd mounts nothing for a native-snapshotter import; whatever is there is ours to undo.
    for (const m of (await mountTable()).filter((e) => e.mountpoint.startsWith(work + '/')).map((e) => e.mountpoint).reverse()) umount(m, MNT_DETACH);
    removeDir(work);
  }
}, 30_000);

const snapshots = () => join(work, 'root', 'io.containerd.snapshotter.v1.native', 'snapshots');

/** containerd's tree for a one-layer image made of `raw`. */
async function containerdTree(raw: Buffer): Promise<string> {
  const name = `case${seq++}`;
  const layout = join(work, `${name}-oci`);
  await buildImage(layout, { tag: 'v1', layers: [raw], compression: 'none' });
  const archive = join(work, `${name}.tar`);
  execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
  const before = new Set(existsSync(snapshots()) ? readdirSync(snapshots()) : []);
  execFileSync('ctr', ['--address', sock, 'images', 'import', '--snapshotter', 'native', '--base-name', name, archive], { stdio: 'pipe' });
  const made = readdirSync(snapshots()).filter((s) => !before.has(s));
  expect(made).toHaveLength(1);
  return join(snapshots(), made[0]!);
}

async function compare(raw: Buffer, opts: { empty?: boolean } = {}): Promise<void> {
  const theirs = await containerdTree(raw);
  const ours = join(work, `ours${seq}`);
  mkdirSync(ours);
  await applyLayer(streamOf(raw, 1000), ours, { label: 'containerd comparison', diffID: sha256(raw) });
  const a = snapshot(ours), b = snapshot(theirs);
  expect(comparable(a, { ignoreRoot: true, implicitDirs: true })).toEqual(comparable(b, { ignoreRoot: true, implicitDirs: true }));
  expect(hardlinkGroups(a)).toEqual(hardlinkGroups(b));
  expect(a.size > 1).toBe(!opts.empty);
}

const entries = (es: TarEntry[]) => Buffer.concat(es.map(tarEntry));
const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

test('old-tar and Go quirks: NUL type flags and slashes, sized hardlinks, chains, links to symlinks, last headers win, odd octal fields', async () => {
  await compare(Buffer.concat([
    paxHeader([['uid', '4242'], ['comment', 'global: ignored by both']], 'g'),
    rawHeader({ name: 'old-file', type: '\0', size: 5, magic: 'v7' }), body('v7 ok'),
    rawHeader({ name: 'old-dir/', type: '\0', mode: 0o750, magic: 'v7' }),
    rawHeader({ name: 'old-dir/in', type: '\0', size: 2, magic: 'v7' }), body('in'),
    rawHeader({ name: 'f', size: 3, mode: 0o4755 }), body('abc'),
    rawHeader({ name: 'h', type: '1', linkname: 'f', size: 3, mode: 0o4755 }),
    paxHeader([['size', '99999']]),
    rawHeader({ name: 'h2', type: '1', linkname: './h', mode: 0o4755 }),
    rawHeader({ name: 'sym', type: '2', linkname: 'f', mode: 0o777 }),
    rawHeader({ name: 'sym-hard', type: '1', linkname: 'sym', mode: 0o777 }),
    paxHeader([['path', 'ignored-name'], ['uid', '55']]),
    paxHeader([['gid', '66']]),
    rawHeader({ name: 'short', size: 1 }), body('s'),
    rawHeader({ name: '././@LongLink', type: 'L', magic: 'gnu', size: 10 }), body('gnu-name\0\0'),
    rawHeader({ name: 'x', magic: 'gnu', size: 1 }), body('x'),
    rawHeader({ name: 'odd', mode: '  755 \0\0', uid: '\x00\x001750 ', gid: '144\0junk', size: ' 3\0     \0\0\0' }), body('odd'),
    rawHeader({ name: 'lnk/', type: '2', linkname: '/etc' }),
    rawHeader({ name: 'n'.repeat(100), size: 3 }), body('100'),
    rawHeader({ name: 'n'.repeat(100), prefix: 'p'.repeat(155), size: 3 }), body('255'),
    rawHeader({ name: 'line\nbreak', size: 2 }), body('nl'),
    rawHeader({ name: Buffer.from([0x66, 0xe9, 0xff]), size: 1 }), body('l'),
    END,
  ]));
});

test('names, order and attributes: ./ and // in names, duplicates, type changes, a dir after its children, xattrs', async () => {
  await compare(entries([
    { name: './/usr//bin/', type: 'dir', mode: 0o751 },
    { name: './usr/./bin//tool', content: 'tool', mode: 0o2755, gid: 42 },
    { name: 'a/b/c', content: 'deep' },
    { name: 'a/b/', type: 'dir', mode: 0o700, uid: 3 },
    { name: 'dup', content: 'first' },
    { name: 'dup', content: 'second', mode: 0o600 },
    { name: 'x', content: 'file' },
    { name: 'x/', type: 'dir' },
    { name: 'x/in', content: 'in' },
    { name: 'y/', type: 'dir' },
    { name: 'y/in', content: 'gone' },
    { name: 'y', content: 'file again' },
    { name: 'ping', content: 'cap', xattrs: { 'security.capability': CAP, 'user.empty': '', 'user.kv': 'a=b=c' } },
    { name: 'fifo', type: 'fifo', mode: 0o620 },
    { name: 'null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  ]));
});

test.each([['0.0'], ['0.1'], ['1.0']])('PAX sparse %s from GNU tar: the same content (dense there, holes here)', async (v) => {
  const src = join(work, `sparse-src-${v}`);
  mkdirSync(src);
  execFileSync('sh', ['-c', `truncate -s 3M s && printf HELLO | dd of=s bs=1 seek=4096 conv=notrunc 2>/dev/null && printf END | dd of=s bs=1 seek=$((3*1024*1024-3)) conv=notrunc 2>/dev/null && truncate -s 1M hole`], { cwd: src });
  const raw = execFileSync('tar', ['--sparse', '--format=posix', `--sparse-version=${v}`, '--owner=0', '--group=0', '--numeric-owner', '-C', src, '-cf', '-', 's', 'hole']);
  await compare(raw);
});

test('trailing bytes after the end of the archive', async () => {
  await compare(Buffer.concat([entries([{ name: 'a', content: 'a' }]), END, Buffer.from('trailing garbage')]));
});

test.each([['no bytes at all', 0], ['two zero blocks', 1024]])('an empty layer (%s) is accepted by both, and empty', async (_what, size) => {
  await compare(Buffer.alloc(size), { empty: true });
});
