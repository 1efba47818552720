// `groot controller --dropins` as a real process on a real store: metrics and health,
// kill -9 + unmount by hand + restart (mounts come back), SIGTERM exits cleanly.
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountTable, umount, MNT_DETACH } from '../../src/sys/index.js';
import { groot, removeWithMounts } from '../helpers/cli.js';
import { startController, type ControllerProcess } from '../helpers/controller-process.js';
import { buildImage } from '../helpers/oci.js';
import { waitFor } from '../helpers/controller-wait.js';

const asRoot = process.getuid?.() === 0;
const t = asRoot ? test : test.skip;

describe('groot controller process', () => {
  let dir: string; let procs: ControllerProcess[] = [];
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'groot-ctl-proc-')); });
  afterEach(async () => {
    for (const p of procs) await p.kill('SIGKILL');
    procs = [];
    await removeWithMounts(dir);
  });

  t('serves metrics/health, survives kill -9 and a hand unmount, stops on SIGTERM', async () => {
    const store = join(dir, 'store'); const dropins = join(dir, 'dropins');
    await mkdir(dropins);
    await buildImage(join(dir, 'layout'), { tag: 'latest', layers: [[{ name: 'etc/', type: 'dir' }, { name: 'etc/hostname', content: 'e2e\n' }]] });
    await writeFile(join(dropins, 'objects.yaml'), `apiVersion: groot.dev/v1alpha1
kind: Image
metadata: {name: base}
spec: {source: "oci:../layout:latest"}
---
apiVersion: groot.dev/v1alpha1
kind: RootFS
metadata: {name: app}
spec: {image: base, diskLimitBytes: 10485760}
`);
    const args = ['--store', store, 'controller', '--dropins', dropins, '--metrics-address', '127.0.0.1:0', '--node', 'e2e'];
    let p = startController(args); procs.push(p);
    const url = await p.url();
    const get = async () => JSON.parse((await groot(['--store', store, 'get', 'rootfs', 'app', '-o', 'json'])).stdout || '{}');
    await waitFor('app Ready', async () => (await get()).status?.conditions?.[0]?.status === 'True', 20_000);
    const root = join(store, 'images', 'app', 'rootfs');
    const mounted = async () => (await mountTable()).some((m) => m.mountpoint === root);
    expect(await mounted()).toBe(true);

    const http = async (path: string) => { const r = await fetch(url + path); return { status: r.status, text: await r.text() }; };
    expect(await http('/healthz')).toEqual({ status: 200, text: 'ok\n' });
    expect((await http('/readyz')).status).toBe(200);
    const metrics = (await http('/metrics')).text;
    for (const m of ['groot_pull_duration_seconds_count{result="success"} 1', 'groot_create_duration_seconds_count{result="success"} 1', 'groot_queue_depth{state="ready"}', 'groot_store_bytes{kind="capacity"}', 'groot_reconcile_total{kind="RootFS",result="success"}', 'groot_objects{kind="RootFS",ready="True"} 1', 'groot_pull_bytes_total', 'groot_unpack_bytes_total', 'groot_reconcile_errors_total', 'groot_process_resident_memory_bytes']) {
      expect(metrics).toContain(m);
    }
    const table = await groot(['--store', store, 'get', 'images']);
    expect(table.stdout).toMatch(/^NAME\s+READY\s+SOURCE\s+DIGEST\s+SIZE\s+AGE\nbase\s+True\s+oci:\/\/\S+\/layout:latest\s+sha256:[0-9a-f]{64}\s+\d+\s+\S+\n$/);

    // kill -9, then the mount goes away (as after a reboot), then a restart brings it back.
    expect((await p.kill('SIGKILL')).signal).toBe('SIGKILL');
    umount(root, MNT_DETACH);
    expect(await mounted()).toBe(false);
    p = startController(args); procs.push(p);
    await waitFor('mounted again', mounted, 20_000);
    const url2 = await p.url();
    await waitFor('ready again', async () => (await fetch(url2 + '/readyz')).status === 200, 10_000);
    expect((await groot(['--store', store, 'describe', 'rootfs', 'app'])).stdout).toMatch(/Remounted\s+\S+\s+groot\s+Mounted .* again/);

    // SIGTERM: graceful, exit 0, mounts stay (containers keep running).
    const t0 = Date.now();
    expect(await p.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(p.logs.some((l) => l.msg === 'stopped')).toBe(true);
    expect(await mounted()).toBe(true);
  });

  t('bad flags and a missing source are errors naming the cause', async () => {
    const r = await groot(['--store', join(dir, 's'), 'controller', '--dropins', dir, '--kube']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--dropins and --kube cannot be used together/);
    const r2 = await groot(['--store', join(dir, 's'), 'controller', '--dropins', dir, '--metrics-address', 'nonsense']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/--metrics-address "nonsense": want HOST:PORT/);
  });
});

describe('groot controller with no source: the embedded example', () => {
  let dir: string; let p: ControllerProcess | undefined;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'groot-ctl-example-')); });
  afterEach(async () => { await p?.kill('SIGKILL'); p = undefined; await removeWithMounts(dir); });

  t('runs the example drop-ins offline: busybox Image, a mounted and an unmounted RootFS', async () => {
    const store = join(dir, 'store');
    p = startController(['--store', store, 'controller', '--metrics-address', '127.0.0.1:0']);
    const get = async (name: string) => JSON.parse((await groot(['--store', store, 'get', 'rootfs', name, '-o', 'json'])).stdout || '{}');
    await waitFor('hello Ready', async () => (await get('hello')).status?.conditions?.[0]?.status === 'True', 60_000);
    await waitFor('hello-unmounted Ready', async () => (await get('hello-unmounted')).status?.conditions?.[0]?.reason === 'Created', 20_000);
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(join(store, 'images', 'hello', 'rootfs', 'etc', 'motd'), 'utf8')).toMatch(/Hello from a root filesystem made by groot/);
    expect((await get('hello-unmounted')).status.mounts[0]).toMatchObject({ destination: '/', type: 'overlay' });
    expect(p.logs.some((l) => l.msg === 'no --dropins or --kube given: using the example drop-ins')).toBe(true);
    expect(await p.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
