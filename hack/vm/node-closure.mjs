// Lists what the VM needs to run the given entry scripts: every local .js/.mjs file they
// reach through imports, and every node_modules package those files import (with the
// packages' own dependencies, optional ones included when installed).
// Usage: node node-closure.mjs PROJECT_ROOT ENTRY... -> relative paths, one a line.
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const [root, ...entries] = process.argv.slice(2);
const builtins = new Set(builtinModules);
const files = new Set();
const packages = new Map(); // dir -> true

const importRe = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;
// Lazy loads through createRequire: `createRequire(import.meta.url)('pino')`, `requireUndici('undici/lib/…')`.
const requireRe = /(?:\bcreateRequire\([^)]*\)|\b\w*[rR]equire\w*)\(\s*['"]([^'"./][^'"]*)['"]\s*\)/g;

function visitFile(file) {
  if (files.has(file)) return;
  files.add(file);
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(importRe)].map((m) => m[1] ?? m[2] ?? m[3]);
  for (const m of text.matchAll(requireRe)) specs.push(m[1]);
  for (const spec of specs) {
    if (spec.startsWith('node:') || builtins.has(spec)) continue;
    if (spec.startsWith('.') || spec.startsWith('/')) {
      const target = resolve(dirname(file), spec);
      if (existsSync(target)) visitFile(target);
      else throw new Error(`${relative(root, file)} imports ${spec}, which does not exist (build first?)`);
    } else {
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      visitPackage(name, dirname(file));
    }
  }
}

function visitPackage(name, fromDir) {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) {
      if (packages.has(candidate)) return;
      packages.set(candidate, true);
      const pj = JSON.parse(readFileSync(join(candidate, 'package.json'), 'utf8'));
      for (const dep of Object.keys({ ...pj.dependencies })) visitPackage(dep, candidate);
      for (const dep of Object.keys({ ...pj.optionalDependencies })) {
        try { visitPackage(dep, candidate); } catch { /* not installed on this platform */ }
      }
      return;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`package ${name} (imported below ${relative(root, fromDir)}) is not installed`);
    dir = up;
  }
}

for (const e of entries) visitFile(resolve(e));
for (const p of [...files, ...packages.keys()]) console.log(relative(root, p));
