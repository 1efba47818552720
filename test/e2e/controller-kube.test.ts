// `groot controller --kube` as a real process on a real store, against the fake API server,
// inspected with the real kubectl.
import { mkdtemp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountTable } from '../../src/sys/index.js';
import { removeWithMounts } from '../helpers/cli.js';
import { startController, type ControllerProcess } from '../helpers/controller-process.js';
import { FakeApiServer } from '../helpers/fake-apiserver.js';
import { buildImage } from '../helpers/oci.js';
import { waitFor } from '../helpers/controller-wait.js';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
const t = asRoot ? test : test.skip;
const KUBECTL = existsSync('/usr/bin/kubectl') ? '/usr/bin/kubectl' : 'kubectl';

describe('groot controller --kube', () => {
  let dir: string; let api: FakeApiServer; let p: ControllerProcess | undefined;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'groot-ctl-kube-')); api = new FakeApiServer(); await api.start(); });
  afterEach(async () => { await p?.kill('SIGKILL'); p = undefined; await api.stop(); await removeWithMounts(dir); });

  t('reconciles CRD objects for its node to real mounts; kubectl shows the printer columns; delete goes through the finalizer', async () => {
    const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'));
    const store = join(dir, 'store');
    const built = await buildImage(join(dir, 'layout'), { tag: 'v1', layers: [[{ name: 'etc/', type: 'dir' }, { name: 'etc/hostname', content: 'kube\n' }]] });
    const labels = { 'groot.dev/node': 'worker-1' };
    api.create('groot.dev', 'images', { metadata: { name: 'base', labels }, spec: { source: `oci://${dir}/layout:v1` } });
    api.create('groot.dev', 'rootfses', { metadata: { name: 'app', labels }, spec: { image: 'base', diskLimitBytes: 1048576 } });
    api.create('groot.dev', 'rootfses', { metadata: { name: 'not-mine', labels: { 'groot.dev/node': 'worker-2' } }, spec: { image: 'base' } });
    // A host path outside the one directory the operator allows.
    api.create('groot.dev', 'images', { metadata: { name: 'host-etc', labels }, spec: { source: 'oci:///etc' } });
    p = startController(['--store', store, 'controller', '--kubeconfig', kubeconfig, '--metrics-address', 'off', '--local-source-dir', dir], { NODE_NAME: 'worker-1' });
    await waitFor('app ready', () => api.get('groot.dev', 'rootfses', 'default', 'app')?.status?.conditions?.[0]?.status === 'True', 20_000);
    await waitFor('host-etc refused', () => api.get('groot.dev', 'images', 'default', 'host-etc')?.status?.conditions?.[0]?.reason === 'SourceNotAllowed', 20_000);
    expect(api.get('groot.dev', 'images', 'default', 'host-etc')?.status?.conditions?.[0]).toMatchObject({ status: 'False', reason: 'SourceNotAllowed', message: expect.stringContaining(`(allowed: ${dir})`) });
    const root = join(store, 'images', 'app', 'rootfs');
    expect((await mountTable()).some((m) => m.mountpoint === root)).toBe(true);
    expect(api.get('groot.dev', 'images', 'default', 'base')?.status).toMatchObject({ digest: built.manifest.digest, layers: 1 });
    expect(api.get('groot.dev', 'rootfses', 'default', 'not-mine')?.status).toBeUndefined();
    expect(existsSync(join(store, 'images', 'not-mine'))).toBe(false);

    await waitFor('usage measured', () => api.get('groot.dev', 'rootfses', 'default', 'app')?.status?.usage, 10_000);
    const { stdout } = await run(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'kcache'), 'get', 'images,rootfses'], { env: { ...process.env, HOME: dir } });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+READY\s+SOURCE\s+DIGEST\s+SIZE\s+AGE$/);
    expect(lines[1]).toMatch(new RegExp(`^image\\.groot\\.dev/base\\s+True\\s+oci://${dir}/layout:v1\\s+${built.manifest.digest}\\s+\\d+\\s+\\d+s$`));
    expect(stdout).toMatch(/NAME\s+READY\s+IMAGE\s+DIGEST\s+USAGE\s+AGE\nrootfs\.groot\.dev\/app\s+True\s+base\s+sha256:[0-9a-f]{64}\s+\d+\s+\d+s\nrootfs\.groot\.dev\/not-mine\s+base\s+\d+s/);
    expect(api.list('', 'events').map((e) => e.reason)).toEqual(expect.arrayContaining(['Pulling', 'Pulled', 'Created']));

    api.delete('groot.dev', 'rootfses', 'default', 'app');
    await waitFor('object and rootfs gone', async () => !api.get('groot.dev', 'rootfses', 'default', 'app') && !(await mountTable()).some((m) => m.mountpoint === root) && !existsSync(join(store, 'images', 'app')), 20_000);
    expect(await p.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
