// Loading koffi: its package entry finds its prebuilt binary by reading the node binary's
// ELF header (glibc or musl), resolving its own package exports and wrapping deprecated
// calls, ~7 ms of every groot process and of every unpack worker, against ~1.5 ms for
// loading the binary itself. So the binary npm installs beside koffi
// (@koromix/koffi-<platform>-<arch>/<platform>_<arch>/koffi.node, glibc's) is loaded
// directly when it is there and of koffi's own version; anything else (musl, another
// layout, a mismatch, a binary that does not load) takes the package's own way.
import { createRequire } from 'node:module';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Koffi from 'koffi';

type KoffiModule = typeof Koffi;

/** node_modules directories above `from`, nearest first (as Node's resolution walks them). */
function nodeModulesAbove(from: string): string[] {
  const out: string[] = [];
  for (let d = from; ; d = dirname(d)) {
    if (!d.endsWith('/node_modules')) out.push(join(d, 'node_modules'));
    if (dirname(d) === d) return out;
  }
}

function isFile(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}

/** The prebuilt binary for this platform beside koffi, loaded, or undefined. */
export function loadPrebuilt(from: string): KoffiModule | undefined {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return undefined;
  for (const nm of nodeModulesAbove(from)) {
    const pkg = join(nm, 'koffi', 'package.json');
    if (!isFile(pkg)) continue;
    // The first koffi up the tree is the one `require('koffi')` would load: this or nothing.
    const binary = join(nm, '@koromix', `koffi-${process.platform}-${process.arch}`, `${process.platform}_${process.arch}`, 'koffi.node');
    if (!isFile(binary)) return undefined;
    try {
      const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version;
      const m = { exports: {} as { version?: string } };
      process.dlopen(m, binary);
      return m.exports.version === version ? m.exports as unknown as KoffiModule : undefined;
    } catch {
      return undefined; // e.g. a glibc binary on musl: the package's loader picks the right one
    }
  }
  return undefined;
}

export function loadKoffi(): KoffiModule {
  const here = fileURLToPath(import.meta.url);
  return loadPrebuilt(dirname(here)) ?? createRequire(here)('koffi') as KoffiModule;
}
