// V8 flags changed at run time. Once one changes, V8 refuses every code cache made before
// (Node's own for its builtins, groot's for its bundles: launch/code-cache.ts), so the
// launcher is told first and saves its caches while they still match.
import { setFlagsFromString } from 'node:v8';

/** Emitted on `process` just before a flag changes. */
export const V8_FLAGS_EVENT = 'groot:v8-flags';

const set = new Set<string>();

/** Set a V8 flag for the rest of the process (once per flag). */
export function setV8Flag(flag: string): void {
  if (set.has(flag)) return;
  set.add(flag);
  process.emit(V8_FLAGS_EVENT as 'exit', 0);
  setFlagsFromString(flag);
}
