// V8 flags for the work phase of a groot process, set once: at its first registry exchange
// or its first layer unpack (whichever comes first), not at start-up. Once any flag
// changes, V8 refuses every code cache made before (Node's own for its builtins, groot's
// for its bundles: launch/code-cache.ts) and Node compiles each builtin it loads after from
// source, in every thread (set at load, that made an unpack worker's start 105 ms instead
// of 45); by then nearly all of them are loaded, and the launcher is told
// first (V8_FLAGS_EVENT) so it saves its caches while they still match.
//
// --liftoff-only: undici parses HTTP with llhttp, WebAssembly that V8 would recompile with
// its optimizing tier on a background thread (~120 ms of CPU) that a short CLI process
// waits for before it can exit; the baseline code is fast enough for response heads.
// --interrupt-budget (default 67584, 30x here): V8 optimizes a function with TurboFan after
// that much bytecode ran in it. A command runs its code for well under a second on cores
// it shares with the registry and the kernel's writeback, and TurboFan's background jobs
// cost more CPU than the faster code saves (measured, pull + create, interleaved rounds:
// 40-layer image 741 -> 673 ms at 1M, 4-layer image 965 -> 862 ms at 4M; 2M-8M within
// noise; --no-turbofan at all is slower than a late TurboFan). The hottest loops still get
// optimized.
import { setFlagsFromString } from 'node:v8';

/** Emitted on `process` just before the flags change. */
export const V8_FLAGS_EVENT = 'groot:v8-flags';

export const WORK_FLAGS = ['--liftoff-only', '--interrupt-budget=2000000'] as const;

let settled = false;

/** Whether this thread has set them. */
export function v8FlagsSettled(): boolean {
  return settled;
}

/** Set the work-phase flags (once per thread; the flags themselves are the process's). */
export function settleV8Flags(): void {
  if (settled) return;
  settled = true;
  (process as NodeJS.EventEmitter).emit(V8_FLAGS_EVENT);
  for (const f of WORK_FLAGS) setFlagsFromString(f);
}
