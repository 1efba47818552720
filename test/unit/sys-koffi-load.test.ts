// koffi's prebuilt binary loaded directly (sys/koffi-load.ts): only the one npm put beside
// the koffi that `require('koffi')` would find, and only of that koffi's version.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKoffi, loadPrebuilt } from '../../src/sys/koffi-load.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binaryRel = join('@koromix', `koffi-${process.platform}-${process.arch}`, `${process.platform}_${process.arch}`, 'koffi.node');
const version = (JSON.parse(readFileSync(join(repo, 'node_modules', 'koffi', 'package.json'), 'utf8')) as { version: string }).version;

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'groot-koffi-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A node_modules at dir/<at> holding koffi (package.json of `v`) and, if asked, the binary. */
function tree(at: string, v: string, withBinary: boolean): string {
  const nm = join(dir, at, 'node_modules');
  mkdirSync(join(nm, 'koffi'), { recursive: true });
  writeFileSync(join(nm, 'koffi', 'package.json'), JSON.stringify({ name: 'koffi', version: v }));
  if (withBinary) {
    mkdirSync(join(nm, binaryRel, '..'), { recursive: true });
    symlinkSync(join(repo, 'node_modules', binaryRel), join(nm, binaryRel));
  }
  return nm;
}

test('this checkout: the binary beside koffi loads, of its version, and calls libc', () => {
  const k = loadPrebuilt(join(repo, 'dist', 'bundle'));
  expect(k).toBeDefined();
  expect((k as unknown as { version: string }).version).toBe(version);
  const getpid = k!.load('libc.so.6').func('int getpid()') as () => number;
  expect(getpid()).toBe(process.pid);
});

test('found by walking up from a nested directory, as Node resolves', () => {
  tree('', version, true);
  mkdirSync(join(dir, 'a', 'b', 'c'), { recursive: true });
  expect(loadPrebuilt(join(dir, 'a', 'b', 'c'))).toBeDefined();
});

test('a koffi of another version than its binary: not loaded directly', () => {
  tree('', '0.0.1', true);
  expect(loadPrebuilt(dir)).toBeUndefined();
});

test('the nearest koffi decides: one without the binary beside it hides a farther one', () => {
  tree('', version, true);
  tree('inner', version, false);
  expect(loadPrebuilt(join(dir, 'inner'))).toBeUndefined();
  expect(loadPrebuilt(dir)).toBeDefined();
});

test('no koffi anywhere up the tree: undefined (the package loader reports it)', () => {
  expect(loadPrebuilt(dir)).toBeUndefined();
});

test('loadKoffi gives the same API as the package', () => {
  const pkg = createRequire(join(repo, 'package.json'))('koffi') as { version: string };
  const k = loadKoffi() as unknown as { version: string; load: unknown; errno: unknown; address: unknown };
  expect(k.version).toBe(pkg.version);
  for (const f of ['load', 'errno', 'address'] as const) expect(typeof k[f]).toBe('function');
});
