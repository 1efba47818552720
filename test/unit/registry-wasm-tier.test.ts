// V8 flags at run time (sys/v8-flags.ts, registry/parser.ts): undici's HTTP parser
// (WebAssembly) is compiled once, on V8's baseline tier only, however hot it gets; the
// flags that do it are put back at once, so builtins loaded after still come from Node's
// code cache; the interrupt budget waits for what holds it (a worker loading its code).
// Run in a child node on the compiled modules (npm test builds first), against a local
// HTTP server, with V8's wasm compile trace and Node's builtin code cache counters.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (f: string) => JSON.stringify(join(repo, 'dist', f));

const prelude = `
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { internalBinding } = require('internal/test/binding');
/** Whether builtin \`id\`, loaded now for the first time, came from the code cache. */
const cached = (id) => { require(id); return ![...internalBinding('builtins').getCacheUsage().compiledWithoutCache].includes(id.replace(/^node:/, '')); };
`;

/** 2000 exchanges of 5 KB bodies: the parser gets hot enough for V8 to tier it up. */
const serve = `
const server = createServer((req, res) => res.end('x'.repeat(5000)));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const { port } = server.address();
`;

// undici alone, no work flags: V8 would tier the parser's big function up within these.
const undiciAlone = `
${prelude}
${serve}
const { compileParser } = await import(${dist('registry/parser.js')});
compileParser();
const Agent = require(${JSON.stringify(join(repo, 'node_modules/undici/lib/dispatcher/agent.js'))});
const request = require(${JSON.stringify(join(repo, 'node_modules/undici/lib/api/api-request.js'))});
const agent = new Agent();
for (let i = 0; i < 2000; i++) {
  const res = await request.call(agent, { origin: 'http://127.0.0.1:' + port, path: '/v2/', method: 'GET' });
  await res.body.text();
}
await agent.close();
server.close();
`;

// The transport: its first exchange compiles the parser (before undici's own compile).
const oneExchange = `
${prelude}
${serve}
const { Transport } = await import(${dist('registry/transport.js')});
const { InsecureHosts } = await import(${dist('registry/insecure-hosts.js')});
const { tuningOf } = await import(${dist('registry/options.js')});
const t = new Transport(tuningOf({}), new InsecureHosts(['127.0.0.1:' + port]));
await (await t.send(new URL('http://127.0.0.1:' + port + '/v2/'))).body.text();
await t.close();
server.close();
`;

const compiled = (out: string[]) => out.filter((l) => /^Compiled function .* using /.test(l));

/** Run `script` in a child node; `asFile` for one that starts a worker (a worker inherits --input-type, and fails on it). */
function run(script: string, nodeFlags: string[] = [], asFile = false): string[] {
  let args = ['--input-type=module', '-e', script];
  let dir: string | undefined;
  if (asFile) {
    dir = mkdtempSync(join(tmpdir(), 'groot-flags-'));
    writeFileSync(join(dir, 'child.mjs'), script);
    args = [join(dir, 'child.mjs')];
  }
  let r;
  try {
    r = spawnSync(process.execPath, [...nodeFlags, '--expose-internals', '--no-warnings', ...args], { encoding: 'utf8', timeout: 60_000 });
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trim().split('\n');
}

test('the HTTP parser is compiled once, on the baseline tier only, however hot it gets', () => {
  const functions = compiled(run(undiciAlone, ['--trace-wasm-compilation-times']));
  expect(functions.length).toBeGreaterThan(10); // llhttp was compiled in this process
  expect(functions.filter((l) => !/ using Liftoff/.test(l))).toEqual([]);
  // Each function once: undici's own compile of the bytes was served from V8's module cache.
  const indices = functions.map((l) => /#(\d+) using/.exec(l)![1]);
  expect(new Set(indices).size).toBe(indices.length);
});

test("the transport's first exchange compiles the whole parser first (not a function at a time, as undici would)", () => {
  // A lazy compile by undici compiles only the functions one exchange calls (18 of 52 here).
  expect(compiled(run(oneExchange, ['--trace-wasm-compilation-times'])).length).toBeGreaterThan(40);
});

// Without V8 flags on the command line: any of them changes the hash the code cache is checked against.
test('compiling the parser puts the flags back: a builtin loaded next comes from the code cache', () => {
  const out = run(`${prelude}
    const { compileParser } = await import(${dist('registry/parser.js')});
    const before = cached('node:readline');
    compileParser();
    console.log(JSON.stringify({ before, after: cached('node:repl') }));
  `);
  expect(JSON.parse(out[0]!)).toEqual({ before: true, after: true });
});

test('the interrupt budget waits for what holds it, then changes the hash; at most HOLD_MAX_MS', () => {
  const out = run(`${prelude}
    const { settleV8Flags, holdV8Flags, HOLD_MAX_MS } = await import(${dist('sys/v8-flags.js')});
    let release;
    holdV8Flags(new Promise((r) => { release = r; }));
    settleV8Flags();
    const held = cached('node:readline');
    release();
    await new Promise((r) => setImmediate(r));
    const released = cached('node:repl');
    console.log(JSON.stringify({ held, released, max: HOLD_MAX_MS }));
  `);
  expect(JSON.parse(out[0]!)).toEqual({ held: true, released: false, max: expect.any(Number) });
  const capped = run(`${prelude}
    const { settleV8Flags, holdV8Flags, HOLD_MAX_MS } = await import(${dist('sys/v8-flags.js')});
    holdV8Flags(new Promise(() => {})); // a worker that never says it is ready
    settleV8Flags();
    const held = cached('node:readline');
    await new Promise((r) => setTimeout(r, HOLD_MAX_MS + 50));
    console.log(JSON.stringify({ held, late: cached('node:repl') }));
  `);
  expect(JSON.parse(capped[0]!)).toEqual({ held: true, late: false });
});

test('a hold after the budget was set puts V8\'s default back until it settles, then the budget again', () => {
  const out = run(`${prelude}
    const { settleV8Flags, holdV8Flags } = await import(${dist('sys/v8-flags.js')});
    settleV8Flags(); // nothing holds it: set now
    const set = cached('node:readline');
    let release;
    holdV8Flags(new Promise((r) => { release = r; })); // a worker starts later (a create's prepare)
    const held = cached('node:repl');
    release();
    await new Promise((r) => setImmediate(r));
    console.log(JSON.stringify({ set, held, again: cached('node:dgram') }));
  `);
  expect(JSON.parse(out[0]!)).toEqual({ set: false, held: true, again: false });
});

test('an unpack worker starting holds the budget: the pool asks, until the worker said it is ready', () => {
  const out = run(`${prelude}
    const { UnpackPool, SPAWN_MIN_BYTES } = await import(${dist('layer/pool.js')});
    const { settleV8Flags, HOLD_MAX_MS } = await import(${dist('sys/v8-flags.js')});
    const pool = new UnpackPool(1);
    pool.prepare(SPAWN_MIN_BYTES); // starts its worker
    settleV8Flags(); // this thread's work starts while the worker loads
    const held = cached('node:readline');
    await new Promise((r) => setTimeout(r, HOLD_MAX_MS + 50));
    const after = cached('node:repl');
    await pool.close();
    console.log(JSON.stringify({ held, after }));
  `, [], true);
  expect(JSON.parse(out[0]!)).toEqual({ held: true, after: false });
});

