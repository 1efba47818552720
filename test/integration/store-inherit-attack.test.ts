// Regression: a layer must not steer the implicit-dir attribute copy out of its volume. The
// upper layer declares no dir for `X\xFF/f` (non-UTF-8) but plants a symlink named with the
// UTF-8 replacement bytes of that name, pointing at a host file; the lower layer has a
// 04777 dir of that name. The host file's mode must not change.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, symlinkSync, chmodSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEngine, type Engine } from '../../src/rootfs/index.js';
import { OciLayoutBuilder } from '../helpers/oci.js';

let tmp: string;
let engine: Engine | undefined;
beforeEach(() => { tmp = mkdtempSync(join(tmpdir(), 'groot-inherit-')); });
afterEach(async () => {
  if (engine) { for (const r of await engine.list()) await engine.delete(r.id); await engine.close(); engine = undefined; }
  rmSync(tmp, { recursive: true, force: true });
});

function tarOf(dir: string): Buffer {
  return execFileSync('tar', ['--format=posix', '-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 26 });
}

test('a symlink named like a mangled implicit dir cannot make groot chmod a host file', async () => {
  const victim = join(tmp, 'victim');
  writeFileSync(victim, 'secret');
  chmodSync(victim, 0o600);
  const mangled = Buffer.from('X\uFFFD'); // X EF BF BD
  const raw = Buffer.concat([Buffer.from('X'), Buffer.from([0xff])]);
  const lower = join(tmp, 'lower');
  mkdirSync(lower);
  mkdirSync(Buffer.concat([Buffer.from(lower + '/'), mangled]));
  chmodSync(Buffer.concat([Buffer.from(lower + '/'), mangled]), 0o4777);
  const upper = join(tmp, 'upper');
  mkdirSync(upper);
  mkdirSync(Buffer.concat([Buffer.from(upper + '/'), raw]));
  writeFileSync(Buffer.concat([Buffer.from(upper + '/'), raw, Buffer.from('/f')]), 'f');
  symlinkSync(victim, Buffer.concat([Buffer.from(upper + '/'), mangled]) as unknown as string);
  // Drop the upper's entry for X\xFF itself so the dir is implicit.
  const upperTar = execFileSync('sh', ['-c', `tar --format=posix -C ${upper} -cf - ./X$(printf '\\377')/f ./X$(printf '\\357\\277\\275')`], { maxBuffer: 1 << 26 });
  const b = new OciLayoutBuilder(join(tmp, 'layout'));
  await b.image({ tag: 'v', layers: [tarOf(lower), upperTar] });
  await b.finish();
  engine = await openEngine({ storePath: join(tmp, 'store') });
  await engine.create({ id: 'a', source: `oci://${join(tmp, 'layout')}:v` }).catch(() => undefined);
  expect(statSync(victim).mode & 0o7777).toBe(0o600);
  expect(readFileSync(victim, 'utf8')).toBe('secret');
});
