// `npm run bench`: every benchmark in this folder, one after another, in one run.
// A benchmark is a file named `*.bench.js` here (create.bench.js first, then the rest by
// name: e.g. pull.bench.js for registry pulls, controller.bench.js for load). Each prints
// its own results; this runner frames them and fails if any fails.
//   node hack/bench/run.js [NAME...]   run only the named benchmarks (e.g. `create`)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const all = readdirSync(here).filter((f) => f.endsWith('.bench.js'))
  .sort((a, b) => (a === 'create.bench.js' ? -1 : b === 'create.bench.js' ? 1 : a.localeCompare(b)));
const chosen = only.length ? all.filter((f) => only.includes(f.replace(/\.bench\.js$/, ''))) : all;
if (chosen.length === 0) { console.error(`bench: nothing matches ${only.join(' ')} (have: ${all.join(', ')})`); process.exit(2); }

let failed = 0;
for (const f of chosen) {
  console.log(`\n=== ${f.replace(/\.bench\.js$/, '')} (${new Date().toISOString()}, ${process.platform}/${process.arch}, node ${process.version})`);
  const r = spawnSync(process.execPath, [join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) { failed++; console.log(`=== ${f}: FAILED (exit ${r.status ?? r.signal})`); }
}
process.exit(failed ? 1 : 0);
