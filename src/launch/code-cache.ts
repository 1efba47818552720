// V8 code caches for the CLI's bundles. Every groot command is a new process that parses
// ~1.1 MB of bundled JavaScript (main + undici) before it does anything; with V8's cache
// of that compiled code it deserializes instead (measured: create 105 -> 95 ms, pull+create
// of the 40-layer image -29 ms). Node 20 has no module compile cache of its own
// (module.enableCompileCache is 22.1+), so the bundles in one directory are compiled here,
// through vm.Script with `cachedData`.
//
// V8 accepts a cache only for the same V8, source length and flags. Source length is not
// enough to tell two builds apart, so a cache is keyed by the bundle's size, mtime and
// inode, and V8's version. Flags: a process sets its work flags once (sys/v8-flags.ts, at
// its first registry exchange or layer unpack), after which no cache made before would
// match and one made then would not match the next process's start. So a cache is
// written just before that (V8_FLAGS_EVENT), or at exit by a process that never changed
// them; only when there was none or V8 refused it, or when the one there was made at an
// earlier stage (stage 1: at exit, no work done; stage 2: at the flags change, with the
// registry client's code too). Writes are atomic (temp file + rename);
// a directory that cannot be written (a read-only install) just means no cache.
import Module from 'node:module';
import { readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { V8_FLAGS_EVENT } from '../sys/v8-flags.js';
import { IMPORT_HOOK } from './import.js';

type Stage = 1 | 2;

interface Compiled {
  script: Script;
  file: string;
  key: string;
  /** Stage of the cache V8 accepted, 0 for none. */
  loaded: 0 | Stage;
}

interface InternalModule {
  exports: unknown;
  require(id: string): unknown;
}
type ModuleStatics = typeof Module & {
  wrap(source: string): string;
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
  _cache: unknown;
  prototype: { _compile(this: InternalModule, content: string, filename: string): unknown };
};

const cacheName = (file: string, key: string, stage: Stage) => `${file}.${key}.${stage}.v8cache`;

/**
 * Compile every CommonJS file of `dir` that this process requires through V8's code cache;
 * caches are saved on the flags event and at exit.
 */
export function useCodeCache(dir: string): void {
  const M = Module as ModuleStatics;
  // The bundles' import() goes through this module's own (launch/import.ts says why).
  (globalThis as Record<symbol, unknown>)[IMPORT_HOOK] = (specifier: string) => import(specifier);
  const compiled: Compiled[] = [];
  const original = M.prototype._compile;
  M.prototype._compile = function compile(this: InternalModule, content: string, filename: string): unknown {
    if (dirname(filename) !== dir) return original.call(this, content, filename);
    const st = statSync(filename, { bigint: true });
    // V8's version too: two Nodes sharing one install (GROOT_NODE) would replace each other's.
    const key = `${st.size}-${st.mtimeNs}-${st.ino}-v${process.versions.v8.replace(/[^0-9]+/g, '_')}`;
    let loaded: 0 | Stage = 0;
    let script: Script | undefined;
    for (const stage of [2, 1] as const) {
      let data: Buffer;
      try {
        data = readFileSync(cacheName(filename, key, stage));
      } catch {
        continue;
      }
      script = newScript(M.wrap(content), filename, data);
      if (!script.cachedDataRejected) loaded = stage;
      break;
    }
    script ??= newScript(M.wrap(content), filename);
    compiled.push({ script, file: filename, key, loaded });
    const fn = script.runInThisContext({ displayErrors: true }) as (...a: unknown[]) => unknown;
    const mod = this;
    const req = Object.assign((id: string) => mod.require(id), {
      resolve: (request: string, options?: unknown) => M._resolveFilename(request, mod, false, options),
      main: require.main,
      cache: M._cache,
    });
    return fn.call(mod.exports, mod.exports, req, mod, filename, dirname(filename));
  };

  let flagsChanged = false;
  const save = (stage: Stage) => {
    for (const c of compiled) {
      if (c.loaded >= stage) continue;
      c.loaded = stage;
      const target = cacheName(c.file, c.key, stage);
      const tmp = `${target}.${process.pid}.tmp`;
      try {
        try {
          writeFileSync(tmp, c.script.createCachedData(), { mode: 0o644 });
          renameSync(tmp, target);
        } catch (e) {
          try { unlinkSync(tmp); } catch { /* never made */ }
          throw e;
        }
        // Caches of earlier builds and stages of this file go.
        const prefix = `${basename(c.file)}.`;
        for (const name of readdirSync(dirname(c.file))) {
          if (name.startsWith(prefix) && name.endsWith('.v8cache') && name !== basename(target)) {
            try { unlinkSync(join(dirname(c.file), name)); } catch { /* another process did */ }
          }
        }
      } catch {
        // read-only install or a full disk: no cache, the next process compiles again
      }
    }
  };
  process.once(V8_FLAGS_EVENT, () => {
    save(2);
    flagsChanged = true;
  });
  process.once('exit', () => {
    if (!flagsChanged) save(1);
  });
}

const require = Module.createRequire(import.meta.url);

function newScript(source: string, filename: string, cachedData?: Buffer): Script {
  return new Script(source, { filename, ...(cachedData ? { cachedData } : {}) });
}
