// V8 flags for the work phase of a groot process, changed at run time, not at start-up: once
// any flag differs from its default, V8 refuses every code cache made before (Node's own for
// its builtins, groot's for its bundles: launch/code-cache.ts) and Node compiles each builtin
// it loads after from source, in every thread (an unpack worker starting then: 82 ms of CPU
// instead of 42). So each flag is changed as late and as briefly as its purpose allows, and
// the launcher is told first (V8_FLAGS_EVENT) so it saves its caches while they still match.
//
// --liftoff-only with --no-wasm-lazy-compilation, only while a thread compiles undici's HTTP
// parser (withBaselineWasm, from registry/parser.ts): llhttp is WebAssembly, which V8 would
// recompile with TurboFan on a background thread once hot (~120-175 ms of CPU that a short
// process waits for; the baseline code is fast enough for response heads). Compiled eagerly
// under --liftoff-only, every function of the module comes without a tier-up check and stays
// on the baseline tier for good, also in undici's own compile of the same bytes, which V8
// serves from its module cache (measured: 52 functions, 5 ms; 6000 exchanges after, none
// went to TurboFan). The flags it implies are put back too, which restores V8's flag hash.
//
// --interrupt-budget (default 67584, 30x here), for the rest of the process once its work
// starts (first exchange or first unpack): V8 optimizes a function with TurboFan after that
// much bytecode ran in it. A command runs its code for well under a second on cores it shares
// with the registry and the kernel's writeback, and TurboFan's background jobs cost more CPU
// than the faster code saves (measured, pull + create, interleaved rounds: 40-layer image
// 741 -> 673 ms at 1M, 4-layer image 965 -> 862 ms at 4M; 2M-8M within noise; --no-turbofan
// at all is slower than a late TurboFan). The hottest loops still get optimized. It waits
// while an unpack worker loads its code (holdV8Flags), at most HOLD_MAX_MS.
import { setFlagsFromString } from 'node:v8';

/** Emitted on `process` just before the first flag changes. */
export const V8_FLAGS_EVENT = 'groot:v8-flags';

export const BUDGET_FLAG = '--interrupt-budget=2000000';
// V8's default (Node 20's V8 11.3). Where another V8 has another, putting it back leaves the
// flag hash changed for that while: the worker's builtins compile from source, as without.
const DEFAULT_BUDGET_FLAG = '--interrupt-budget=67584';
const WASM_ON = ['--liftoff-only', '--no-wasm-lazy-compilation'];
// V8's defaults (checked on Node 20: the flag hash comes back); --liftoff-only turned two off.
const WASM_OFF = ['--no-liftoff-only', '--wasm-tier-up', '--wasm-dynamic-tiering', '--wasm-lazy-compilation'];
/** Longest the budget waits for workers still loading. */
export const HOLD_MAX_MS = 300;

let told = false;
let budget: 'unset' | 'wanted' | 'set' = 'unset';
let holdTimer: NodeJS.Timeout | undefined;
const holds = new Set<Promise<unknown>>();

function set(flags: readonly string[]): void {
  if (!told) {
    told = true;
    (process as NodeJS.EventEmitter).emit(V8_FLAGS_EVENT);
  }
  for (const f of flags) setFlagsFromString(f);
}

/** Run `compile` (a WebAssembly compile) with the baseline-only flags, then put them back. */
export function withBaselineWasm<T>(compile: () => T): T {
  set(WASM_ON);
  try {
    return compile();
  } finally {
    set(WASM_OFF);
  }
}

/** This thread's work starts: set the interrupt budget now, or once nothing holds it. */
export function settleV8Flags(): void {
  if (budget !== 'unset') return;
  budget = 'wanted';
  if (holds.size === 0) { setBudget(); return; }
  holdTimer = setTimeout(setBudget, HOLD_MAX_MS);
  holdTimer.unref();
}

function setBudget(): void {
  if (budget !== 'wanted') return;
  clearTimeout(holdTimer);
  budget = 'set';
  set([BUDGET_FLAG]);
}

/**
 * Keep the budget unset until `loading` settles (a worker loading its code and its
 * builtins, which would otherwise be compiled from source); set already, it goes back to
 * V8's default meanwhile.
 */
export function holdV8Flags(loading: Promise<unknown>): void {
  if (budget === 'set') {
    budget = 'wanted';
    setFlagsFromString(DEFAULT_BUDGET_FLAG);
    holdTimer = setTimeout(setBudget, HOLD_MAX_MS);
    holdTimer.unref();
  }
  holds.add(loading);
  const done = () => {
    holds.delete(loading);
    if (holds.size === 0 && budget === 'wanted') setBudget();
  };
  loading.then(done, done);
}
