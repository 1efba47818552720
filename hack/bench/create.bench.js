// groot create vs umoci unpack, on one multi-layer image this script builds:
//   cold: empty store, unpack every layer + mount (groot CLI) vs `umoci unpack` of the same
//         OCI layout; median of N runs each, interleaved so both see the same machine.
//   warm: image cached; create (then delete, untimed) M times; median and p90, through the
//         CLI (what Garden pays: process start included) and in-process (the engine alone).
// Everything (layout, stores, umoci bundles) lives on one fresh XFS filesystem on a loop
// device, so both sides write to the same kind of filesystem GrootFS stores use, and the
// host's own (this machine's ext4 root slows down after many deletes) stays out of it.
// Env: BENCH_COLD_RUNS (3), BENCH_WARM_RUNS (50), BENCH_LAYERS (5), BENCH_FILES_PER_LAYER (1000),
//      BENCH_FS=host (use the host's temp dir as it is).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBenchImage } from './image.js';
import { mountFreshXfs, unmountUnder } from './fs.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The launcher operators and Garden run (bin/groot: node on the CLI bundle).
const GROOT = join(repo, 'bin', 'groot');
const COLD = Number(process.env.BENCH_COLD_RUNS ?? 3);
const WARM = Number(process.env.BENCH_WARM_RUNS ?? 50);

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs) => quantile(xs, 0.5);
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1)).padStart(8) + ' ms';

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.error?.message ?? ''}${r.stdout}${r.stderr}`);
  return r.stdout;
}
const groot = (store, ...args) => run(GROOT, ['--store', store, ...args], `groot ${args[0]}`);
function timed(cmd, args, what) {
  const t0 = process.hrtime.bigint();
  run(cmd, args, what);
  return ms(t0);
}

if (process.getuid?.() !== 0) { console.error('bench: run as root (overlay mounts)'); process.exit(1); }
if (spawnSync('umoci', ['--version']).status !== 0) { console.error('bench: umoci is missing (hack/install.sh installs it)'); process.exit(1); }

const work = mkdtempSync(join(tmpdir(), 'groot-bench-'));
let teardownFs = () => unmountUnder(work);
try {
  if (process.env.BENCH_FS !== 'host') teardownFs = mountFreshXfs(work);
  const t0 = process.hrtime.bigint();
  const img = buildBenchImage({
    dir: join(work, 'layout'),
    layers: Number(process.env.BENCH_LAYERS ?? 5),
    filesPerLayer: Number(process.env.BENCH_FILES_PER_LAYER ?? 1000),
  });
  const src = `oci://${img.dir}:${img.tag}`;
  console.log(`image: ${img.layers} gzip layers, ${img.files} files, ${(img.bytes / 2 ** 20).toFixed(1)} MiB unpacked, ${(img.compressedBytes / 2 ** 20).toFixed(1)} MiB compressed (built in ${(ms(t0) / 1000).toFixed(1)} s)`);

  // Cold: a new store (and a new bundle dir) every run.
  const grootCold = [];
  const umociCold = [];
  for (let i = 0; i < COLD; i++) {
    const store = join(work, `cold-store-${i}`);
    groot(store, 'init-store');
    grootCold.push(timed(GROOT, ['--store', store, 'create', src, 'cold'], 'groot create (cold)'));
    groot(store, 'delete-store');

    const bundle = join(work, `bundle-${i}`);
    umociCold.push(timed('umoci', ['unpack', '--image', `${img.dir}:${img.tag}`, bundle], 'umoci unpack'));
    rmSync(bundle, { recursive: true, force: true });
  }

  // Warm: one store with the image cached.
  const store = join(work, 'warm-store');
  groot(store, 'init-store');
  groot(store, 'pull', src);
  const cliWarm = [];
  for (let i = 0; i < WARM; i++) {
    cliWarm.push(timed(GROOT, ['--store', store, 'create', src, `w${i}`], 'groot create (warm)'));
    groot(store, 'delete', `w${i}`);
  }
  const { openEngine } = await import(join(repo, 'dist', 'rootfs', 'index.js'));
  const engine = await openEngine({ storePath: store });
  const engineWarm = [];
  try {
    for (let i = 0; i < WARM; i++) {
      const t = process.hrtime.bigint();
      await engine.create({ id: `e${i}`, source: src });
      engineWarm.push(ms(t));
      await engine.delete(`e${i}`);
    }
  } finally {
    await engine.close();
  }
  groot(store, 'delete-store');

  const g = median(grootCold);
  const u = median(umociCold);
  console.log('');
  console.log(`cold create (empty store: unpack ${img.layers} layers + mount), median of ${COLD}:`);
  console.log(`  groot create      ${fmt(g)}   runs: ${grootCold.map((x) => x.toFixed(0)).join(', ')}`);
  console.log(`  umoci unpack      ${fmt(u)}   runs: ${umociCold.map((x) => x.toFixed(0)).join(', ')}`);
  console.log(`  ratio groot/umoci ${(g / u).toFixed(2).padStart(8)}x`);
  console.log(`warm create (image cached), ${WARM} creates, each deleted after:`);
  console.log(`  groot CLI         median ${fmt(median(cliWarm))}   p90 ${fmt(quantile(cliWarm, 0.9))}   (includes Node start-up)`);
  console.log(`  engine in-process median ${fmt(median(engineWarm))}   p90 ${fmt(quantile(engineWarm, 0.9))}`);
} finally {
  // Never leave a mount or a store behind, even after a failure.
  teardownFs();
  rmSync(work, { recursive: true, force: true });
}
