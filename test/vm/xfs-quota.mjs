// The project-quota suite: XFS (a backing store made by initStore, mounted prjquota) and ext4
// (mkfs -O quota,project, mounted prjquota), both through the `xfs` backend. Needs a kernel
// with XFS quota and ext4 quota (this build machine has neither: hack/vm/xfs-quota-test.sh
// runs it in a VM). Plain node + asserts; prints one line per test and "N passed, N failed".
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initStore, ensureStoreMounted, deleteStore, backingFilePath, capacity } from '../../dist/store/backing.js';
import { detectQuota, detectQuotaBackend } from '../../dist/quota/index.js';
import { fsGetXattr, FS_XFLAG_PROJINHERIT } from '../../dist/sys/ioctl.js';
import { xGetQuota, getQuota, PRJQUOTA } from '../../dist/sys/quotactl.js';
import { attachLoop, loopDevicesFor } from '../../dist/sys/loop.js';
import { mount, umount, mountTable, mountOverlay, MS_NOATIME, MNT_DETACH } from '../../dist/sys/mount.js';
import { test, summary, writeUpTo, refused, MiB } from './harness.mjs';
import { engineSuite } from './xfs-engine.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Write with dd as an unprivileged user. ext4 (VFS quota) lets CAP_SYS_RESOURCE ignore hard
 * limits, so root's own writes are not refused there; a container's writes go through the
 * overlay, which drops CAP_SYS_RESOURCE from the creds it writes the upper with.
 */
function ddAsNobody(path, mib) {
  const r = spawnSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=1048576', `count=${mib}`, 'conv=fsync'], { uid: 65534, gid: 65534, encoding: 'utf8' });
  let size = 0;
  try { size = statSync(path).size; } catch { /* not created */ }
  return { ok: r.status === 0, refused: /quota|space/i.test(r.stderr), size, stderr: r.stderr.trim().split('\n')[0] };
}

/** XFS forgets a project with no limit and no usage: ENOENT means all zero. */
function quotaOf(device, id) {
  try {
    try { return xGetQuota(device, PRJQUOTA, id); } catch (e) {
      if (e.errno === 2) throw e;
      return getQuota(device, PRJQUOTA, id);
    }
  } catch (e) {
    if (e.errno === 2) return { hardLimitBytes: 0, softLimitBytes: 0, usedBytes: 0, inodes: 0 };
    throw e;
  }
}

/** A worker process: resolves `ready` once it has loaded, starts on go(), `done` gives its stdout. */
function runWorker(script, args) {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let readyResolve;
  const ready = new Promise((r) => { readyResolve = r; });
  child.stdout.on('data', (b) => { out += b; if (out.startsWith('ready\n')) readyResolve(); });
  const done = new Promise((resolve, reject) => child.on('close', (code) => code === 0 ? resolve(out) : reject(new Error(`worker exited ${code}: ${out}`))));
  return { ready, done, go: () => child.stdin.end('go\n') };
}

async function deviceOf(path) {
  return (await mountTable()).filter((m) => path === m.mountpoint || path.startsWith(m.mountpoint + '/'))
    .sort((a, b) => b.mountpoint.length - a.mountpoint.length)[0].source;
}

/** The tests every project-quota filesystem must pass. */
async function suite(label, store) {
  const q = await detectQuotaBackend(store);
  const device = await deviceOf(store);
  const ids = join(store, 'projectids');

  await test(`${label}: detected as project quota (xfs backend)`, async () => {
    assert.equal(q.kind, 'xfs');
  });

  await test(`${label}: assign, setLimit, usage; a write past the limit fails with EDQUOT`, async () => {
    const dir = join(store, 'images', 'a');
    await q.assign(dir);
    const x = fsGetXattr(dir);
    assert.ok(x.projid > 0, 'project id set');
    assert.ok(x.xflags & FS_XFLAG_PROJINHERIT, 'PROJINHERIT set');
    assert.equal(readFileSync(join(ids, String(x.projid)), 'utf8').trim(), dir);
    await q.assign(dir); // idempotent
    assert.equal(fsGetXattr(dir).projid, x.projid);
    await q.setLimit(dir, 10 * MiB);
    assert.equal(quotaOf(device, x.projid).hardLimitBytes, 10 * MiB);
    assert.equal(quotaOf(device, x.projid).softLimitBytes, 10 * MiB);
    assert.ok((await q.usage(dir)) < 64 * 1024);
    await mkdir(join(dir, 'diff'));
    assert.equal(fsGetXattr(join(dir, 'diff')).projid, x.projid, 'a new subdir inherits the project');
    chownSync(join(dir, 'diff'), 65534, 65534);
    // Let nobody walk down to it (store dirs are 0700); put back at the end.
    const walk = [dirname(store), store, join(store, 'images'), dir];
    for (const d of walk) chmodSync(d, 0o711);
    const r = ddAsNobody(join(dir, 'diff', 'big'), 20);
    assert.ok(!r.ok && r.refused, `write refused (dd: ${r.stderr}, ${r.size} bytes)`);
    assert.ok(r.size <= 10 * MiB && r.size >= 9 * MiB, `stopped near 10 MiB, at ${r.size}`);
    const used = await q.usage(dir);
    assert.ok(used >= 9 * MiB && used <= 10 * MiB, `usage ${used}`);
    if (label === 'xfs') {
      // XFS enforces project limits on root too.
      const root = await writeUpTo(join(dir, 'diff', 'root'), 4 * MiB);
      assert.ok(refused(root.error), `root's write refused (got ${root.error?.code ?? 'no error'})`);
      await rm(join(dir, 'diff', 'root'), { force: true });
    }
    // The rest of the store keeps working.
    const free = await writeUpTo(join(store, 'outside'), 12 * MiB);
    assert.equal(free.error, undefined);
    await rm(join(store, 'outside'));
    // 0 lifts the limit.
    await q.setLimit(dir, 0);
    assert.equal(quotaOf(device, x.projid).hardLimitBytes, 0);
    const more = ddAsNobody(join(dir, 'diff', 'more'), 20);
    assert.ok(more.ok, `write without a limit (dd: ${more.stderr})`);
    assert.ok((await q.usage(dir)) >= 29 * MiB);
    for (const d of walk) chmodSync(d, 0o700);
  });

  await test(`${label}: overlay upper in the project dir: writing through the mounted rootfs hits the limit`, async () => {
    const lower = join(store, 'volumes', 'base');
    await mkdir(lower, { recursive: true });
    await writeFile(join(lower, 'hello'), 'from the image\n');
    const dir = join(store, 'images', 'ovl');
    await q.assign(dir);
    await q.setLimit(dir, 6 * MiB);
    for (const d of ['diff', 'workdir', 'rootfs']) await mkdir(join(dir, d));
    mountOverlay({ lowers: [lower], upper: join(dir, 'diff'), work: join(dir, 'workdir'), target: join(dir, 'rootfs') });
    try {
      assert.equal(await readFile(join(dir, 'rootfs', 'hello'), 'utf8'), 'from the image\n');
      const r = await writeUpTo(join(dir, 'rootfs', 'fill'), 12 * MiB);
      assert.ok(refused(r.error), `write refused (got ${r.error?.code ?? 'no error'} after ${r.written})`);
      assert.ok(r.written <= 6 * MiB);
      assert.ok((await q.usage(dir)) >= 5 * MiB);
    } finally {
      umount(join(dir, 'rootfs'));
    }
  });

  await test(`${label}: release clears the limit and frees the id; an id still holding bytes is not reused`, async () => {
    const dir = join(store, 'images', 'a');
    const id = fsGetXattr(dir).projid;
    await q.setLimit(dir, 40 * MiB);
    await q.release(dir);
    assert.equal(existsSync(join(ids, String(id))), false, 'id file removed');
    assert.equal(quotaOf(device, id).hardLimitBytes, 0, 'limit cleared');
    await q.release(dir); // twice is fine
    // Its files are still there: a new rootfs must not get that id.
    const other = join(store, 'images', 'b');
    await q.assign(other);
    assert.notEqual(fsGetXattr(other).projid, id);
    await rm(dir, { recursive: true });
    // XFS frees unlinked inodes' blocks in the background (inodegc); sync pushes that through.
    execFileSync('sync');
    for (let i = 0; i < 50 && quotaOf(device, id).usedBytes !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(quotaOf(device, id).usedBytes, 0);
    const third = join(store, 'images', 'c');
    await q.assign(third);
    assert.equal(fsGetXattr(third).projid, id, 'the lowest clean id is reused');
    await assert.rejects(q.usage(join(store, 'volumes')), /never assigned/);
    await assert.rejects(q.setLimit(third, -5), />= 0/);
  });

  await test(`${label}: concurrent assigns in 3 processes (2 workers + this one) get distinct project ids`, async () => {
    const worker = join(here, 'assign-worker.mjs');
    const workers = [0, 1].map((w) => runWorker(worker, [store, ...[0, 1, 2, 3].map((i) => join(store, 'images', `w${w}-${i}`))]));
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const inProcess = [0, 1, 2, 3].map((i) => q.assign(join(store, 'images', `p-${i}`)));
    const outs = await Promise.all(workers.map((w) => w.done));
    await Promise.all(inProcess);
    const got = new Map();
    for (const stdout of outs) for (const line of stdout.trim().split('\n').slice(1)) {
      const [d, id] = line.split(' ');
      got.set(d, Number(id));
    }
    for (let i = 0; i < 4; i++) got.set(join(store, 'images', `p-${i}`), fsGetXattr(join(store, 'images', `p-${i}`)).projid);
    assert.equal(got.size, 12);
    const values = [...got.values()];
    assert.ok(values.every((v) => v > 0));
    assert.equal(new Set(values).size, 12, `ids collide: ${values.join(',')}`);
    for (const [d, id] of got) assert.equal(readFileSync(join(ids, String(id)), 'utf8').trim(), d);
    for (const d of got.keys()) await q.release(d);
    const left = ['ovl', 'b', 'c'].map((n) => String(fsGetXattr(join(store, 'images', n)).projid)).sort();
    assert.deepEqual(readdirSync(ids).sort(), left, 'only the ids still assigned are left');
  });

  return q;
}

async function main() {
  const scratch = await mkdtemp(join(process.env.GROOT_VM_SCRATCH ?? tmpdir(), 'gq-'));
  const t0 = Date.now();

  // XFS: the real init-store path (sparse file, mkfs.xfs, loop ioctls, mount prjquota).
  const xstore = join(scratch, 'xfs-store');
  await test('xfs: initStore creates, formats and mounts the backing store with prjquota', async () => {
    const r = await initStore({ storePath: xstore, sizeBytes: 320 * MiB, fs: 'xfs' });
    assert.equal(r.action, 'created');
    assert.equal(r.quota.kind, 'xfs', r.quota.reason);
    const m = (await mountTable()).find((x) => x.mountpoint === xstore);
    assert.equal(m.fstype, 'xfs');
    assert.match(m.superOptions, /prjquota/);
    assert.match(m.options, /noatime/);
    assert.ok((await capacity(xstore)) > 250 * MiB);
    assert.equal((await initStore({ storePath: xstore, sizeBytes: 320 * MiB, fs: 'xfs' })).action, 'none');
  });
  const xq = await suite('xfs', xstore);
  console.log(`# xfs quotactl api: ${xq.api}`);

  await test('xfs: after a "reboot" ensureStoreMounted remounts with prjquota and limits still hold', async () => {
    const dir = join(xstore, 'images', 'c');
    await xq.setLimit(dir, 2 * MiB);
    umount(xstore);
    assert.deepEqual(loopDevicesFor(backingFilePath(xstore)), []);
    assert.equal(await ensureStoreMounted(xstore), true);
    assert.equal(await ensureStoreMounted(xstore), false);
    assert.equal((await detectQuota(xstore)).kind, 'xfs');
    const r = await writeUpTo(join(dir, 'f'), 4 * MiB);
    assert.ok(refused(r.error), `write refused (got ${r.error?.code ?? 'no error'})`);
  });

  await test('xfs: deleteStore leaves nothing mounted or attached', async () => {
    await deleteStore(xstore);
    assert.equal((await mountTable()).some((m) => m.mountpoint.startsWith(xstore)), false);
    assert.deepEqual(loopDevicesFor(backingFilePath(xstore)), []);
    assert.equal(existsSync(xstore) || existsSync(backingFilePath(xstore)), false);
  });

  // ext4 with the project and quota features, mounted prjquota: same backend, same tests.
  const estore = join(scratch, 'ext4-store');
  const img = join(scratch, 'ext4.img');
  let ext4Ready = false;
  await test('ext4: mkfs -O quota,project and mount prjquota', async () => {
    execFileSync('truncate', ['-s', String(128 * MiB), img]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-O', 'quota,project', '-I', '256', img]);
    await mkdir(estore, { recursive: true });
    const lo = attachLoop(img, { autoclear: true });
    try { mount(lo.device, estore, 'ext4', MS_NOATIME, 'prjquota'); } finally { closeSync(lo.fd); }
    assert.equal((await detectQuota(estore)).kind, 'xfs');
    ext4Ready = true;
  });
  if (ext4Ready) {
    const eq = await suite('ext4', estore);
    console.log(`# ext4 quotactl api: ${eq.api}`);
    umount(estore, MNT_DETACH);
  }

  await engineSuite(scratch);

  await rm(scratch, { recursive: true, force: true });
  console.log(`# suite took ${Date.now() - t0} ms`);
  process.exitCode = summary() ? 0 : 1;
}

main().catch((e) => {
  console.log(`not ok - suite crashed: ${e?.stack ?? e}`);
  summary(1);
  process.exitCode = 1;
});
