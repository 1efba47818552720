// groot pull + create vs containerd `ctr images pull --plain-http`, from a local registry
// (Debian's docker-registry on 127.0.0.1), cold every run: a new groot store, a new
// containerd root. Two images: ~90 MB compressed in 4 layers, and one of 40 layers.
// containerd runs with its own temp root/state/socket and the overlayfs snapshotter, so
// both sides fetch, verify, decompress and unpack to overlayfs lower directories.
// Both write to a fresh XFS filesystem of the same size on a loop device each run: groot's
// store from `init-store --store-size-bytes` (how GrootFS stores are deployed), containerd's
// root on one made the same way. That keeps the host's own filesystem out of the figures
// (this build machine's ext4 root spends seconds finding free inodes after many deletes).
// Median of BENCH_PULL_RUNS (3) runs each, interleaved; prints wall times, CPU times (groot:
// both processes, threads included; containerd: the daemon plus ctr) and groot/containerd.
// Env: BENCH_PULL_RUNS (3), BENCH_PULL_BIG_FILES (files per layer of the 4-layer image, 1700),
//      BENCH_PULL_MANY_FILES (files per layer of the 40-layer image, 60),
//      BENCH_PULL_FS=host (both on the host's temp dir instead of fresh XFS loop mounts).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBenchImage } from './image.js';
import { mountFreshXfs, unmountUnder } from './fs.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The launcher operators and Garden run (bin/groot: node on the CLI bundle).
const GROOT = join(repo, 'bin', 'groot');
const RUNS = Number(process.env.BENCH_PULL_RUNS ?? 3);

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1)).padStart(8) + ' ms';
const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;

function run(cmd, args, what, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error || r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stdout ?? ''}${r.stderr ?? ''}`);
  return r.stdout;
}
/** Wall and CPU (user+sys of the child and its threads) milliseconds of one command. */
function timed(cmd, args, what) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = ms(t0);
  if (r.error || r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stdout ?? ''}${r.stderr ?? ''}`);
  const [u, s] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: (u + s) * 1000 };
}

/** CPU milliseconds a process has used so far (utime + stime from /proc). */
function cpuOf(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 1000 / CLK_TCK;
}
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

const FS_SIZE = 8_000_000_000;
const ON_HOST = process.env.BENCH_PULL_FS === 'host';

const sleep = (n) => new Promise((r) => setTimeout(r, n));

for (const [bin, pkg] of [['docker-registry', 'docker-registry'], ['skopeo', 'skopeo'], ['containerd', 'containerd'], ['ctr', 'containerd']]) {
  if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) { console.error(`bench: ${bin} is missing (apt-get install ${pkg}; hack/install.sh does)`); process.exit(1); }
}
if (process.getuid?.() !== 0) { console.error('bench: run as root (overlay mounts)'); process.exit(1); }
if (!existsSync(join(repo, 'dist', 'bundle', 'groot.cjs'))) run('npm', ['run', '--silent', 'build'], 'build', { cwd: repo });

/** containerd with everything of its own under dir; resolves once it answers. */
async function startContainerd(dir) {
  const sock = join(dir, 'containerd.sock');
  writeFileSync(join(dir, 'config.toml'), [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]', `  address = "${sock}"`,
    '[ttrpc]', `  address = "${sock}.ttrpc"`,
    '[debug]', `  address = "${dir}/debug.sock"`, '  level = "warn"',
    '[metrics]', '  address = ""',
  ].join('\n') + '\n');
  const child = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if (existsSync(sock) && spawnSync('ctr', ['--address', sock, 'version'], { stdio: 'ignore' }).status === 0) return { child, sock };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`containerd did not start: ${log}`);
}

async function stopContainerd(c) {
  if (c.child.exitCode !== null) return;
  const exited = new Promise((r) => c.child.once('exit', r));
  c.child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (c.child.exitCode === null) { c.child.kill('SIGKILL'); await exited; }
}


const work = mkdtempSync(join(tmpdir(), 'groot-pullbench-'));
let registryDir;
const daemons = [];
try {
  // The registry, from hack/registry (the same script developers use).
  const out = run('bash', [join(repo, 'hack', 'registry', 'start.sh'), '--dir', join(work, 'registry')], 'start registry');
  const vars = Object.fromEntries(out.trim().split(/\s+/).map((kv) => kv.split('=')));
  registryDir = vars.REGISTRY_DIR;
  const host = vars.REGISTRY_HOST;

  const images = [
    { name: 'big', what: '4 layers, ~90 MB', layers: 4, filesPerLayer: Number(process.env.BENCH_PULL_BIG_FILES ?? 1700), seed: 7 },
    { name: 'many', what: '40 layers', layers: 40, filesPerLayer: Number(process.env.BENCH_PULL_MANY_FILES ?? 60), seed: 11 },
  ];
  for (const img of images) {
    const t0 = process.hrtime.bigint();
    const built = buildBenchImage({ dir: join(work, `layout-${img.name}`), tag: 'v1', layers: img.layers, filesPerLayer: img.filesPerLayer, seed: img.seed });
    img.ref = `${host}/bench/${img.name}:v1`;
    run('bash', [join(repo, 'hack', 'registry', 'push.sh'), built.dir, 'v1', img.ref], `push ${img.name}`);
    rmSync(built.dir, { recursive: true, force: true });
    img.built = built;
    console.log(`image ${img.name}: ${built.layers} gzip layers, ${built.files} files, ${mib(built.bytes)} unpacked, ${mib(built.compressedBytes)} compressed (built + pushed in ${(ms(t0) / 1000).toFixed(1)} s)`);
  }

  const results = [];
  for (const img of images) {
    const grootRuns = [];
    const grootPull = [];
    const grootCpu = [];
    const ctrRuns = [];
    const ctrCpu = [];
    const source = `docker://${img.ref}`;
    for (let i = 0; i < RUNS; i++) {
      // groot: a new store; pull then create, each a CLI process as Garden would run them.
      const store = join(work, `store-${img.name}-${i}`);
      run(GROOT, ['--store', store, 'init-store', ...(ON_HOST ? [] : ['--store-size-bytes', String(FS_SIZE)])], 'groot init-store');
      try {
        const p = timed(GROOT, ['--store', store, 'pull', source, '--insecure-registry', host], 'groot pull');
        const c = timed(GROOT, ['--store', store, 'create', source, 'bench', '--insecure-registry', host], 'groot create');
        grootPull.push(p.wall);
        grootRuns.push(p.wall + c.wall);
        grootCpu.push(p.cpu + c.cpu);
      } finally {
        spawnSync(GROOT, ['--store', store, 'delete-store'], { stdio: 'ignore' });
        unmountUnder(store);
        rmSync(store, { recursive: true, force: true });
      }

      // containerd: a new root every run, so nothing is cached.
      const cdir = mkdtempSync(join(work, `containerd-${img.name}-${i}-`));
      const unmountFs = ON_HOST ? () => {} : mountFreshXfs(cdir, FS_SIZE);
      try {
        const c = await startContainerd(cdir);
        daemons.push(c);
        try {
          const d0 = cpuOf(c.child.pid);
          const t = timed('ctr', ['--address', c.sock, '-n', 'bench', 'images', 'pull', '--plain-http', img.ref], 'ctr images pull');
          ctrRuns.push(t.wall);
          ctrCpu.push(t.cpu + cpuOf(c.child.pid) - d0);
        } finally {
          await stopContainerd(c);
          unmountUnder(cdir);
        }
      } finally {
        unmountFs();
        rmSync(cdir, { recursive: true, force: true });
      }
    }
    results.push({ img, grootRuns, grootPull, grootCpu, ctrRuns, ctrCpu });
  }

  console.log('');
  console.log(`filesystem: ${ON_HOST ? `the host's ${tmpdir()}` : 'a fresh XFS loop mount per run for each side'}`);
  for (const { img, grootRuns, grootPull, grootCpu, ctrRuns, ctrCpu } of results) {
    const g = median(grootRuns);
    const k = median(ctrRuns);
    console.log(`${img.name} (${img.built.layers} layers, ${mib(img.built.compressedBytes)} compressed), cold, median of ${RUNS}:`);
    console.log(`  groot pull + create     ${fmt(g)}   runs: ${grootRuns.map((x) => x.toFixed(0)).join(', ')}   (pull alone: ${median(grootPull).toFixed(0)} ms; CPU ${median(grootCpu).toFixed(0)} ms)`);
    console.log(`  ctr images pull         ${fmt(k)}   runs: ${ctrRuns.map((x) => x.toFixed(0)).join(', ')}   (CPU ${median(ctrCpu).toFixed(0)} ms)`);
    console.log(`  ratio groot/containerd  ${(g / k).toFixed(2).padStart(8)}x   (target <= 0.50; CPU ratio ${(median(grootCpu) / median(ctrCpu)).toFixed(2)}x)`);
  }
} finally {
  for (const c of daemons) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  if (registryDir) spawnSync('bash', [join(repo, 'hack', 'registry', 'stop.sh'), registryDir], { stdio: 'ignore' });
  unmountUnder(work);
  rmSync(work, { recursive: true, force: true });
}
