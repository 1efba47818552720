// V8 flags groot changes while running, all at one moment, as late as it can.
//
// Why one moment: V8 hashes every flag into its code caches. Once any flag changed (for
// good: unsetting one leaves the flags it implied changed), Node compiles each builtin
// module it loads from source, in every thread of the process (measured: an unpack worker
// took 105 ms to start instead of 45 when a flag had changed before it started). So flags
// are set once, when first needed: by the registry transport, on its first exchange.
//
// - --liftoff-only (always): keeps undici's HTTP parser, WebAssembly compiled on the first
//   connection, on V8's baseline tier. Its optimizing tier would recompile the parser on a
//   background thread (~120 ms of CPU), and a short process waits for that job to exit.
// - --no-turbofan (a short-lived process, the CLI, asks for it): a command that pulls spends
//   more on optimizing JavaScript than it wins back (measured, `groot pull` + `create`:
//   40 layers 1000 -> 936 ms, CPU 1280 -> 1150; 4 layers of 90 MB 1128 -> 1090 ms). The
//   baseline tiers stay. A command still running after TURBOFAN_BACK_MS gets it back, for
//   the long pull that would miss it.
import { setFlagsFromString } from 'node:v8';

const TURBOFAN_BACK_MS = 5_000;

let shortLived = false;
let applied = false;

/** This process runs a command and exits (the CLI); say so before the flags are applied. */
export function markShortLived(): void {
  shortLived = true;
}

/** Apply groot's V8 flags, once per thread; the first call does it. (`turbofanBackMs`: tests.) */
export function applyV8Flags(turbofanBackMs = TURBOFAN_BACK_MS): void {
  if (applied) return;
  applied = true;
  setFlagsFromString('--liftoff-only');
  if (!shortLived) return;
  setFlagsFromString('--no-turbofan');
  setTimeout(() => setFlagsFromString('--turbofan'), turbofanBackMs).unref();
}
