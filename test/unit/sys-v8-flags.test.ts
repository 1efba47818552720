// sys/v8-flags.ts: a short-lived process (the CLI) runs without V8's optimizing compiler
// from the first registry exchange on, and gets it back after a while; any other process
// (the controller) keeps it. A child node on the compiled module (npm test builds first),
// with V8's natives syntax to ask whether a hot function got optimized.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Whether a hot function gets optimized: after applyV8Flags, and again `laterMs` later. */
function optimized(shortLived: boolean, laterMs: number): { now: boolean; later: boolean } {
  const child = `
const { markShortLived, applyV8Flags } = await import(${JSON.stringify(join(repo, 'dist/sys/v8-flags.js'))});
if (${shortLived}) markShortLived();
applyV8Flags(2000);
// A new function for each check (same code, its own feedback), called until hot.
const fresh = (n) => new Function('n', 'let s = 0; for (let i = 0; i < 100; i++) s += i * n; return s;');
const heat = (f) => { for (let i = 0; i < 20000; i++) f(i & 7); };
const isOpt = (f) => (%GetOptimizationStatus(f) & 16) !== 0;
// Optimization runs on a background thread: give it time to land, then call again.
const check = async () => { const f = fresh(); heat(f); await new Promise((r) => setTimeout(r, 500)); heat(f); return isOpt(f); };
const now = await check();
await new Promise((r) => setTimeout(r, ${laterMs}));
const later = await check();
console.log(JSON.stringify({ now, later }));
`;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', child], { encoding: 'utf8', timeout: 30_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout.trim()) as { now: boolean; later: boolean };
}

test('a short-lived process runs unoptimized after the flags are applied, and optimizes again later', () => {
  expect(optimized(true, 2100)).toEqual({ now: false, later: true });
});

test('a long-running process keeps the optimizing compiler', () => {
  expect(optimized(false, 0)).toEqual({ now: true, later: true });
});
