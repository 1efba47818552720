// Cross-check with GNU tar: a real directory (every file type, owners, modes, ns mtimes,
// xattrs incl. security.capability, hardlinks, long/unicode/non-UTF-8 names) archived by
// GNU tar unpacks with applyLayer to the same tree GNU tar itself extracts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, symlinkSync, linkSync, chownSync, lchownSync, chmodSync, utimesSync, createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { applyLayer } from '../../src/layer/index.js';
import { mknod, S_IFCHR, S_IFBLK, S_IFIFO, lsetxattr, lutimensBytes } from '../../src/sys/index.js';
import { snapshot, comparable, hardlinkGroups, tempDir, removeDir } from './layer-tree.js';

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

let work: string;
let src: string;

function setTimes(p: string, sec: number, nsec: number) {
  lutimensBytes(Buffer.from(p), { sec, nsec }, { sec, nsec });
}

beforeAll(() => {
  work = tempDir('layer-gnutar-');
  src = join(work, 'src');
  const p = (...x: string[]) => join(src, ...x);
  mkdirSync(p('usr/bin'), { recursive: true });
  mkdirSync(p('etc'));
  mkdirSync(p('tmp'));
  mkdirSync(p('dev'));
  mkdirSync(p('home/app/.cache'), { recursive: true });
  mkdirSync(p('ro'));
  writeFileSync(p('etc/hosts'), '127.0.0.1 localhost\n');
  writeFileSync(p('usr/bin/tool'), randomBytes(200000));
  chmodSync(p('usr/bin/tool'), 0o4755);
  writeFileSync(p('usr/bin/ping'), 'ping');
  lsetxattr(p('usr/bin/ping'), 'security.capability', CAP);
  writeFileSync(p('usr/bin/sg'), 'sg');
  chownSync(p('usr/bin/sg'), 0, 42);
  chmodSync(p('usr/bin/sg'), 0o2711);
  chmodSync(p('tmp'), 0o1777);
  linkSync(p('usr/bin/tool'), p('usr/bin/tool-hard'));
  linkSync(p('usr/bin/tool'), p('etc/tool-hard-2'));
  symlinkSync('../etc/hosts', p('usr/hosts-rel'));
  symlinkSync('/etc/hosts', p('usr/hosts-abs'));
  symlinkSync('nowhere', p('usr/dangling'));
  mknod(p('dev/null'), S_IFCHR | 0o666, 1, 3);
  mknod(p('dev/sda9'), S_IFBLK | 0o660, 8, 9);
  mknod(p('dev/fifo'), S_IFIFO | 0o600);
  writeFileSync(p('home/app/.cache/data'), 'cache');
  chownSync(p('home/app'), 1000, 1000);
  chownSync(p('home/app/.cache'), 1000, 1000);
  chownSync(p('home/app/.cache/data'), 1000, 1001);
  lchownSync(p('usr/hosts-rel'), 1000, 1000);
  lsetxattr(p('etc/hosts'), 'user.origin', 'test');
  lsetxattr(p('etc/hosts'), 'trusted.bin', Buffer.from([0, 0xff, 0x0a, 0x3d]));
  lsetxattr(p('home/app'), 'user.dir-attr', 'yes');
  const long = p('deep', 'd'.repeat(100), 'e'.repeat(100), 'f'.repeat(120));
  mkdirSync(long, { recursive: true });
  writeFileSync(join(long, 'g'.repeat(200)), 'long path');
  symlinkSync('t'.repeat(200), join(long, 'long-link'));
  mkdirSync(p('unicode/ünïcödé-名前'), { recursive: true });
  writeFileSync(p('unicode/ünïcödé-名前/файл.txt'), 'unicode');
  writeFileSync(Buffer.from(p('unicode/latin1-\xe9\xff'), 'latin1'), 'not utf-8');
  writeFileSync(p('ro/file'), 'in a read-only dir');
  writeFileSync(p('empty'), '');
  chmodSync(p('ro'), 0o555);
  // Times last, innermost first, nanoseconds included.
  setTimes(p('usr/bin/tool'), 1600000000, 123456789);
  setTimes(p('usr/hosts-rel'), 1500000000, 5);
  setTimes(p('ro/file'), 1400000000, 0);
  setTimes(p('ro'), 1300000000, 999999999);
  setTimes(p('home/app'), 1200000000, 1);
  setTimes(src, 1100000000, 0);
});
afterAll(() => removeDir(work));

describe.each([
  ['posix', ['--format=posix', '--xattrs', '--xattrs-include=*']],
  ['gnu', ['--format=gnu']],
])('an archive made by GNU tar --format=%s', (format, flags) => {
  test('unpacks to the same tree as GNU tar extracts', async () => {
    const archive = join(work, `${format}.tar`);
    execFileSync('tar', [...flags, '-C', src, '-cf', archive, '.']);
    const gnu = join(work, `gnu-${format}`);
    const ours = join(work, `ours-${format}`);
    mkdirSync(gnu);
    mkdirSync(ours);
    execFileSync('tar', [...flags, '--numeric-owner', '-xpf', archive, '-C', gnu]);
    const r = await applyLayer(createReadStream(archive), ours, { label: `GNU tar ${format}` });
    expect(r.entries).toBeGreaterThan(30);
    // The gnu format carries no xattrs, and only whole seconds. GNU tar restores trusted.*;
    // groot drops them, as containerd does (see src/layer/xattr-policy.ts).
    const a = snapshot(ours), b = snapshot(gnu, { skipXattrs: /^trusted\./ });
    if (format === 'posix') expect(snapshot(gnu).get('etc/hosts')!.xattrs['trusted.bin']).toBe('00ff0a3d');
    expect(a.get('etc/hosts')!.xattrs['trusted.bin']).toBeUndefined();
    expect(comparable(a)).toEqual(comparable(b));
    expect(hardlinkGroups(a)).toEqual([['etc/tool-hard-2', 'usr/bin/tool', 'usr/bin/tool-hard']]);
    expect(hardlinkGroups(a)).toEqual(hardlinkGroups(b));
    if (format === 'posix') {
      expect(a.get('usr/bin/ping')!.xattrs['security.capability']).toBe(CAP.toString('hex'));
      expect(a.get('usr/bin/tool')!.mtimeNs).toBe(1600000000123456789n);
      expect(a.get('ro')!.mtimeNs).toBe(1300000000999999999n);
    }
    expect(a.get('usr/bin/tool')!.mode).toBe(0o4755);
    expect(a.get('usr/bin/sg')).toMatchObject({ mode: 0o2711, gid: 42 });
    expect(a.get('unicode/latin1-\\xe9\\xff')).toMatchObject({ type: 'file', size: 9 });
  });

  test('the same archive gzip- and zstd-compressed by the command-line tools', async () => {
    const archive = join(work, `${format}.tar`);
    for (const [tool, args] of [['gzip', ['-c', '-6']], ['zstd', ['-q', '-c', '-19']]] as const) {
      const blob = join(work, `${format}.tar.${tool}`);
      writeFileSync(blob, execFileSync(tool, [...args, archive], { maxBuffer: 1 << 28 }));
      const ours = join(work, `ours-${format}-${tool}`);
      mkdirSync(ours);
      await applyLayer(createReadStream(blob), ours, { label: `${tool} ${format}` });
      expect(comparable(snapshot(ours))).toEqual(comparable(snapshot(join(work, `gnu-${format}`), { skipXattrs: /^trusted\./ })));
    }
  });
});
