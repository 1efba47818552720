// Controller load: N RootFS objects over M images (drop-ins) reconciled to Ready by a real
// `groot controller` process on a real store. Reports time to all Ready, controller RSS
// (peak and settled), latency of one more object with N in place, and time to tear all down.
// Env: BENCH_ROOTFS (500), BENCH_IMAGES (20), BENCH_ROOTFS_CONCURRENCY (4), BENCH_PULL_CONCURRENCY (2).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBenchImage } from './image.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The launcher operators and Garden run (bin/groot: node on the CLI bundle).
const GROOT = join(repo, 'bin', 'groot');
const N = Number(process.env.BENCH_ROOTFS ?? 500);
const M = Number(process.env.BENCH_IMAGES ?? 20);
const RC = process.env.BENCH_ROOTFS_CONCURRENCY ?? '4';
const PC = process.env.BENCH_PULL_CONCURRENCY ?? '2';

if (process.getuid?.() !== 0) { console.error('bench: run as root (overlay mounts)'); process.exit(1); }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint() / 1000000n);
const rssOf = (pid) => { try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024; } catch { return 0; } };
const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;

async function metric(url, re) {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = re.exec(text);
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}
const readyRootfs = (url) => metric(url, /^groot_objects\{kind="RootFS",ready="True"\} (\d+)/m);

const work = mkdtempSync(join(tmpdir(), 'groot-bench-ctl-'));
const store = join(work, 'store');
const dropins = join(work, 'dropins');
mkdirSync(dropins);
let child;
try {
  let t0 = now();
  let imgBytes = 0;
  for (let i = 0; i < M; i++) {
    const img = buildBenchImage({ dir: join(work, `img${i}`), layers: 2, filesPerLayer: 40, seed: 1000 + i, tag: 'v1' });
    imgBytes += img.bytes;
    writeFileSync(join(dropins, `image-${i}.yaml`), `apiVersion: groot.dev/v1alpha1\nkind: Image\nmetadata: {name: img${i}}\nspec: {source: "oci://${img.dir}:v1"}\n`);
  }
  for (let j = 0; j < N; j++) {
    writeFileSync(join(dropins, `rootfs-${j}.yaml`), `apiVersion: groot.dev/v1alpha1\nkind: RootFS\nmetadata: {name: app-${j}}\nspec: {image: img${j % M}, diskLimitBytes: ${64 << 20}}\n`);
  }
  console.log(`setup: ${M} images (2 layers, ${mib(imgBytes / M)} each unpacked), ${N} RootFS drop-ins, in ${((now() - t0) / 1000).toFixed(1)} s`);

  t0 = now();
  child = spawn(GROOT, ['--store', store, '--log-level', 'info', 'controller', '--dropins', dropins, '--metrics-address', '127.0.0.1:0',
    '--rootfs-concurrency', RC, '--pull-concurrency', PC], { stdio: ['ignore', 'ignore', 'pipe'] });
  let url;
  let errLog = '';
  child.stderr.on('data', (d) => {
    errLog += d;
    if (!url) { const m = /"metrics":"(http:[^"]+)"/.exec(errLog); if (m) url = m[1]; }
    if (errLog.length > 1 << 20) errLog = errLog.slice(-4096);
  });
  let peak = 0;
  const sampler = setInterval(() => { peak = Math.max(peak, rssOf(child.pid)); }, 100);
  while (!url) { if (child.exitCode !== null) throw new Error(`controller exited: ${errLog.slice(-2000)}`); await sleep(20); }
  let ready = 0;
  while ((ready = await readyRootfs(url)) < N) {
    if (child.exitCode !== null) throw new Error(`controller exited: ${errLog.slice(-2000)}`);
    if (now() - t0 > 30 * 60_000) throw new Error(`only ${ready}/${N} Ready after 30 min`);
    await sleep(100);
  }
  const allReady = now() - t0;
  await sleep(2000);
  const settled = rssOf(child.pid);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(join(store, 'images'))).length;
  console.log(`${N} RootFS over ${M} images Ready in ${(allReady / 1000).toFixed(1)} s (${(N / (allReady / 1000)).toFixed(1)}/s; rootfs concurrency ${RC}, pull concurrency ${PC}); ${mounts} overlay mounts`);
  console.log(`controller RSS: peak ${mib(peak)}, settled ${mib(settled)}`);

  // One more with N in place: drop-in written -> Ready.
  t0 = now();
  writeFileSync(join(dropins, 'rootfs-extra.yaml'), `apiVersion: groot.dev/v1alpha1\nkind: RootFS\nmetadata: {name: extra}\nspec: {image: img0}\n`);
  while ((await readyRootfs(url)) < N + 1) await sleep(10);
  console.log(`one more RootFS with ${N} in place: file written -> Ready in ${now() - t0} ms`);

  // Tear down: delete every RootFS drop-in.
  t0 = now();
  for (const f of readdirSync(dropins)) if (f.startsWith('rootfs-')) unlinkSync(join(dropins, f));
  while (readFileSync('/proc/self/mountinfo', 'utf8').includes(join(store, 'images'))) await sleep(50);
  console.log(`${N + 1} RootFS drop-ins deleted -> all unmounted in ${((now() - t0) / 1000).toFixed(1)} s`);
  clearInterval(sampler);
  t0 = now();
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  console.log(`SIGTERM -> exit in ${now() - t0} ms (code ${child.exitCode})`);
} finally {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  spawnSync(GROOT, ['--store', store, 'delete-store'], { stdio: 'ignore' });
  spawnSync('umount', ['-R', '-l', store], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
