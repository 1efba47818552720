// undici's HTTP parser (WebAssembly) stays on V8's baseline tier, and the flag that keeps it
// there is not set before the first exchange: a changed flag makes Node compile every builtin
// module loaded afterwards from source, in every thread (registry/transport.ts).
// Run in a child node on the compiled transport (npm test builds first), against a local
// HTTP server, with V8's wasm compile trace and Node's builtin code cache counters.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const child = `
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { internalBinding } = require('internal/test/binding');
const { Transport } = await import(${JSON.stringify(join(repo, 'dist/registry/transport.js'))});
const { InsecureHosts } = await import(${JSON.stringify(join(repo, 'dist/registry/insecure-hosts.js'))});
const { tuningOf } = await import(${JSON.stringify(join(repo, 'dist/registry/options.js'))});
// A builtin first loaded once the transport is loaded, before it sent anything.
require('node:readline');
const usage = internalBinding('builtins').getCacheUsage();
console.log(JSON.stringify({ withoutCache: [...usage.compiledWithoutCache] }));
const server = createServer((req, res) => res.end('x'.repeat(1000)));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const { port } = server.address();
const t = new Transport(tuningOf({}), new InsecureHosts(['127.0.0.1:' + port]));
// Enough parsing to make the parser hot: V8 tiers a hot function up after ~1.8 MB executed.
for (let i = 0; i < 300; i++) {
  const res = await t.send(new URL('http://127.0.0.1:' + port + '/v2/'));
  await res.body.text();
}
await t.close();
server.close();
`;

function run(nodeFlags: string[]): string[] {
  const r = spawnSync(process.execPath, [...nodeFlags, '--expose-internals', '--no-warnings', '--input-type=module', '-e', child], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trim().split('\n');
}

test('the HTTP parser is compiled on the baseline tier only, however hot it gets', () => {
  const functions = run(['--trace-wasm-compilation-times']).filter((l) => /^Compiled function .* using /.test(l));
  expect(functions.length).toBeGreaterThan(0); // llhttp was compiled in this process
  expect(functions.filter((l) => !/ using Liftoff/.test(l))).toEqual([]);
});

// Without V8 flags on the command line: any of them changes the hash the code cache is checked against.
test('loading the transport changes no V8 flag: builtins loaded next still come from the code cache', () => {
  const first = JSON.parse(run([])[0]!) as { withoutCache: string[] };
  expect(first.withoutCache.filter((m) => /readline/.test(m))).toEqual([]);
});
