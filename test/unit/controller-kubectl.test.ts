// The real kubectl against the fake API server: discovery, Tables from the CRD printer
// columns, short names and categories, and objects made by groot.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer } from '../helpers/fake-apiserver.js';

const run = promisify(execFile);
const KUBECTL = existsSync('/usr/bin/kubectl') ? '/usr/bin/kubectl' : 'kubectl';

describe('kubectl against the fake API server', () => {
  let api: FakeApiServer; let dir: string; let kubeconfig: string;
  const kubectl = async (...args: string[]) => {
    const r = await run(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args], { env: { ...process.env, HOME: dir } });
    return r.stdout;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'groot-kubectl-'));
    api = new FakeApiServer();
    await api.start();
    kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'));
    api.create('groot.dev', 'images', { metadata: { name: 'busybox', labels: { 'groot.dev/node': 'n1' } }, spec: { source: 'oci:///x/busybox:latest' } });
    api.updateStatus('groot.dev', 'images', 'default', 'busybox', { digest: 'sha256:abc', size: { unpackedBytes: 1234, compressedBytes: 99 }, conditions: [{ type: 'Ready', status: 'True', reason: 'Pulled', message: 'ok', lastTransitionTime: '2024-01-01T00:00:00Z' }] });
    api.create('groot.dev', 'rootfses', { metadata: { name: 'app', labels: { 'groot.dev/node': 'n1' } }, spec: { image: 'busybox', diskLimitBytes: 1000 } });
  });
  afterAll(async () => { await api.stop(); await rm(dir, { recursive: true, force: true }); });

  test('kubectl get images,rootfses prints the printer columns', async () => {
    const out = await kubectl('get', 'images,rootfses');
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+READY\s+SOURCE\s+DIGEST\s+SIZE\s+AGE$/);
    expect(lines[1]).toMatch(/^image\.groot\.dev\/busybox\s+True\s+oci:\/\/\/x\/busybox:latest\s+sha256:abc\s+1234\s+\S+$/);
    const rf = lines.findIndex((l) => /^NAME\s+READY\s+IMAGE\s+DIGEST\s+USAGE\s+AGE$/.test(l));
    expect(rf).toBeGreaterThan(1);
    expect(lines[rf + 1]).toMatch(/^rootfs\.groot\.dev\/app\s+busybox\s+\S+$/);
  });

  test('short names, category, -o wide, -o json', async () => {
    expect(await kubectl('get', 'gimg')).toMatch(/busybox\s+True/);
    expect(await kubectl('get', 'rfs', '-o', 'wide')).toMatch(/^NAME\s+READY\s+IMAGE\s+DIGEST\s+USAGE\s+AGE\s+REASON\s+LIMIT\s+PATH\n/);
    expect(await kubectl('get', 'groot')).toMatch(/image\.groot\.dev\/busybox/);
    const j = JSON.parse(await kubectl('get', 'image', 'busybox', '-o', 'json'));
    expect(j.spec.pullPolicy).toBe('IfNotPresent'); // CRD default applied
    expect(j.status.digest).toBe('sha256:abc');
  });

  test('kubectl apply/delete work on the CRDs and respect schema validation', async () => {
    const f = join(dir, 'bad.yaml');
    await writeFile(f, 'apiVersion: groot.dev/v1alpha1\nkind: RootFS\nmetadata: {name: bad}\nspec: {image: busybox, diskLimitBytes: -1}\n');
    await expect(kubectl('create', '--validate=false', '-f', f)).rejects.toThrow(/diskLimitBytes/);
    expect(await kubectl('get', 'rootfs', 'app', '-o', 'jsonpath={.metadata.generation}')).toBe('1');
  });
});
