// Kubernetes-specific behaviour against the fake API server, driven by the real client library.
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller } from '../../src/controller/controller.js';
import { KubeSource } from '../../src/controller/source-kube.js';
import type { Change } from '../../src/controller/source.js';
import { FakeEngine } from '../helpers/controller-fake-engine.js';
import { kubeHarness } from '../helpers/controller-source-harness.js';
import { waitFor, sleep } from '../helpers/controller-wait.js';

const D1 = 'sha256:' + '1'.repeat(64);
const labels = { 'groot.dev/node': 'node-a' };

describe('Kubernetes source', () => {
  let h: Awaited<ReturnType<typeof kubeHarness>>;
  let stops: (() => Promise<void>)[] = [];
  beforeEach(async () => { h = await kubeHarness(); });
  afterEach(async () => { for (const s of stops.reverse()) await s(); stops = []; await h.close(); });

  const source = async () => {
    const s = h.make() as KubeSource;
    const changes: Change[] = [];
    await s.start((c) => changes.push(c));
    stops.push(() => s.stop());
    expect(await s.waitForSync(5000)).toBe(true);
    return { s, changes };
  };

  test('410 Gone on a watch leads to a relist that catches what was missed', async () => {
    h.api.create('groot.dev', 'images', { metadata: { name: 'a', labels }, spec: { source: 'docker://a' } });
    const { s, changes } = await source();
    await waitFor('watching', () => h.api.watchCount() === 2);
    const lists = () => h.api.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/images') && !r.query.includes('watch=true')).length;
    const before = lists();
    h.api.dropWatches();
    // While nobody watches: changes happen and the history they are in is compacted away.
    h.api.create('groot.dev', 'images', { metadata: { name: 'b', labels }, spec: { source: 'docker://b' } });
    h.api.delete('groot.dev', 'images', 'default', 'a');
    h.api.compact();
    await waitFor('relisted', () => lists() > before, 8000);
    await waitFor('b added, a deleted', () => s.get('Image/default/b') && !s.get('Image/default/a'), 8000);
    expect(changes.filter((c) => c.type === 'deleted').map((c) => c.key)).toEqual(['Image/default/a']);
    // And it watches again, from the new list.
    await waitFor('watching again', () => h.api.watchCount() === 2, 8000);
    h.api.create('groot.dev', 'images', { metadata: { name: 'c', labels }, spec: { source: 'docker://c' } });
    await waitFor('c seen', () => s.get('Image/default/c'));
  });

  test('a watch the server ends (timeout) is re-opened from the last resourceVersion without a relist', async () => {
    const s = new KubeSource((h.make() as KubeSource).kc, { node: 'node-a', watchTimeoutSeconds: 1, resyncMs: 60_000 });
    const changes: Change[] = [];
    await s.start((c) => changes.push(c));
    stops.push(() => s.stop());
    await waitFor('synced', () => s.synced());
    const watches = () => h.api.requests.filter((r) => r.query.includes('watch=true') && r.path.endsWith('/images'));
    const lists = () => h.api.requests.filter((r) => r.path.endsWith('/images') && !r.query.includes('watch=true')).length;
    await waitFor('3 watches', () => watches().length >= 3, 6000);
    expect(lists()).toBe(1);
    expect(watches().every((w) => /resourceVersion=\d+/.test(w.query) && /timeoutSeconds=1/.test(w.query) && /labelSelector=groot.dev%2Fnode%3Dnode-a/.test(w.query))).toBe(true);
    h.api.create('groot.dev', 'images', { metadata: { name: 'late', labels }, spec: { source: 'docker://late' } });
    await waitFor('seen after re-watch', () => changes.some((c) => c.key === 'Image/default/late'));
  });

  test('a watch cut without a clean end is re-established after backoff with a relist', async () => {
    const { s } = await source();
    await waitFor('watching', () => h.api.watchCount() === 2);
    const lists = () => h.api.requests.filter((r) => r.path.endsWith('/rootfses') && !r.query.includes('watch=true')).length;
    const l0 = lists();
    h.api.failRequests(3, 503, /rootfses/);
    h.api.dropWatches();
    await waitFor('relisted after failures', () => lists() >= l0 + 4, 8000);
    await waitFor('watching again', () => h.api.watchCount() === 2, 8000);
    h.api.create('groot.dev', 'rootfses', { metadata: { name: 'r', labels }, spec: { image: 'x' } });
    await waitFor('seen', () => s.get('RootFS/default/r'));
  });

  test('the status subresource is patched with a merge patch; spec and metadata are untouched', async () => {
    h.api.create('groot.dev', 'images', { metadata: { name: 'a', labels }, spec: { source: 'docker://a' } });
    const { s } = await source();
    const obj = s.get('Image/default/a')!;
    await s.status.write(obj, { observedGeneration: 1, digest: D1 });
    const patch = h.api.requests.find((r) => r.method === 'PATCH' && r.path.endsWith('/images/a/status'));
    expect(patch?.contentType).toBe('application/merge-patch+json');
    const stored = h.api.get('groot.dev', 'images', 'default', 'a')!;
    expect(stored.status).toEqual({ observedGeneration: 1, digest: D1 });
    expect(stored.metadata.generation).toBe(1);
  });

  test('controller: finalizer, Events for pulls, /status conditions, and cleanup on delete', async () => {
    const engine = new FakeEngine(h.storePath);
    engine.images.set('docker://registry.example/img:v1', { digest: D1, layers: 1, size: 10 });
    engine.failures.set('pull', new Error('connection refused'));
    h.api.create('groot.dev', 'images', { metadata: { name: 'base', labels }, spec: { source: 'docker://registry.example/img:v1' } });
    h.api.create('groot.dev', 'rootfses', { metadata: { name: 'app', labels }, spec: { image: 'base' } });
    const ctl = new Controller({ engine, source: h.make(), settings: { usageMs: 60_000, progressMs: 0 }, queue: { baseDelayMs: 50, maxDelayMs: 100 } });
    await ctl.start();
    stops.push(() => ctl.stop(500));
    await waitFor('finalizer', () => h.api.get('groot.dev', 'rootfses', 'default', 'app')?.metadata.finalizers?.includes('groot.dev/cleanup'));
    await waitFor('failed event', () => h.api.list('', 'events').some((e) => e.reason === 'Failed'));
    engine.failures.delete('pull');
    await waitFor('ready', () => h.api.get('groot.dev', 'rootfses', 'default', 'app')?.status?.conditions?.[0]?.status === 'True');
    const events = h.api.list('', 'events');
    const byReason = (r: string) => events.filter((e) => e.reason === r);
    expect(byReason('Pulling')[0]).toMatchObject({ type: 'Normal', involvedObject: { kind: 'Image', name: 'base', apiVersion: 'groot.dev/v1alpha1' }, source: { component: 'groot', host: 'node-a' } });
    expect(byReason('Failed')[0]).toMatchObject({ type: 'Warning', message: expect.stringMatching(/connection refused/) });
    expect(byReason('Pulled')[0]).toMatchObject({ type: 'Normal', message: expect.stringMatching(/Successfully pulled image docker:\/\/registry\.example\/img:v1/) });
    expect(byReason('Created')[0]).toMatchObject({ involvedObject: { kind: 'RootFS', name: 'app' } });
    expect(h.api.get('groot.dev', 'images', 'default', 'base')?.status).toMatchObject({ digest: D1, observedGeneration: 1 });

    // Deleting: the finalizer holds the object until the root filesystem is gone.
    h.api.delete('groot.dev', 'rootfses', 'default', 'app');
    await waitFor('object gone', () => h.api.get('groot.dev', 'rootfses', 'default', 'app') === undefined);
    expect(engine.rootfs.has('app')).toBe(false);
  });

  // Local sources on the node's disk: `oci://DIR/img:v1` under a fresh directory.
  const localImage = async () => {
    const dir = await realpath(await mkdtemp(join(tmpdir(), 'groot-kube-local-')));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'img'));
    await writeFile(join(dir, 'rootfs.tar'), '');
    return { dir, source: `oci://${dir}/img:v1`, tarball: `${dir}/rootfs.tar` };
  };
  /** A local image the fake engine can pull, and an Image `base` naming it. */
  const localBase = async () => {
    const local = await localImage();
    const engine = new FakeEngine(h.storePath);
    engine.images.set(local.source, { digest: D1, layers: 1, size: 10 });
    h.api.create('groot.dev', 'images', { metadata: { name: 'base', labels }, spec: { source: local.source } });
    return { local, engine };
  };
  const readyOf = (plural: string, name: string) => h.api.get('groot.dev', plural, 'default', name)?.status?.conditions?.find((c: { type: string }) => c.type === 'Ready');

  test('a local source no --local-source-dir allows: Ready False and a Warning Event on the object (once, not every resync), never a pull', async () => {
    const local = await localImage();
    const engine = new FakeEngine(h.storePath);
    engine.images.set(local.source, { digest: D1, layers: 1, size: 10 });
    engine.images.set(local.tarball, { digest: D1, layers: 1, size: 10 });
    h.api.create('groot.dev', 'images', { metadata: { name: 'host', labels }, spec: { source: local.source } });
    h.api.create('groot.dev', 'rootfses', { metadata: { name: 'direct', labels }, spec: { image: local.tarball } });
    h.api.create('groot.dev', 'rootfses', { metadata: { name: 'on-host', labels }, spec: { image: 'host' } });
    // The Image's first status writes fail, so its RootFS looks at it before the refusal is in.
    h.api.failRequests(2, 503, /^PATCH .*\/images\/host\/status/);
    const ctl = new Controller({ engine, source: h.make(), settings: { resyncMs: 60_000, progressMs: 0 }, queue: { baseDelayMs: 50, maxDelayMs: 100 } });
    await ctl.start();
    stops.push(() => ctl.stop(500));
    await waitFor('refused in status', () => readyOf('images', 'host')?.reason === 'SourceNotAllowed' && readyOf('rootfses', 'direct')?.reason === 'SourceNotAllowed');
    expect(readyOf('images', 'host')).toMatchObject({ status: 'False', message: expect.stringMatching(/^Image default\/host: spec\.source .* \(allowed: none\); the node's operator can allow one with `groot controller --local-source-dir DIR`/) });
    // The refusal re-queues the RootFS waiting for that Image: it says why.
    await waitFor('RootFS says why', () => /^waiting for Image default\/host to be Ready: SourceNotAllowed: Image default\/host: spec\.source/.test(readyOf('rootfses', 'on-host')?.message ?? ''));
    await waitFor('events', () => h.api.list('', 'events').filter((e) => e.reason === 'SourceNotAllowed').length === 2);
    // Reconciled again (as every resync does): no new Event.
    ctl.queue.add('Image/default/host'); ctl.queue.add('RootFS/default/direct');
    await sleep(300);
    const events = h.api.list('', 'events').filter((e) => e.reason === 'SourceNotAllowed');
    expect(events.map((e) => [e.type, e.involvedObject.kind, e.involvedObject.name, e.count ?? 1]).sort()).toEqual([['Warning', 'Image', 'host', 1], ['Warning', 'RootFS', 'direct', 1]]);
    expect(events.find((e) => e.involvedObject.kind === 'RootFS')?.message).toMatch(/^RootFS default\/direct: spec\.image "/);
    expect(engine.count('pull')).toBe(0);
    expect(engine.count('create')).toBe(0);
  });

  test('an Image pulled under a wider policy is refused after a restart with a narrower one, without pulling again', async () => {
    const { local, engine } = await localBase();
    const first = new Controller({ engine, source: h.make(), sourcePolicy: { localSourceDirs: [local.dir] } });
    await first.start();
    await waitFor('pulled', () => readyOf('images', 'base')?.reason === 'Pulled');
    await first.stop(500);
    expect(engine.count('pull')).toBe(1);
    // The pin record says "pulled, same spec": the policy must come before that shortcut.
    const second = new Controller({ engine, source: h.make() });
    await second.start();
    stops.push(() => second.stop(500));
    await waitFor('refused', () => readyOf('images', 'base')?.reason === 'SourceNotAllowed');
    expect(engine.count('pull')).toBe(1);
  });

  test('a RootFS checks the source it reads itself: an Image whose status says Ready does not carry a refused path through', async () => {
    const { local, engine } = await localBase();
    // Status written by someone else (status is a separate RBAC grant), and the controller's own status writes failing.
    h.api.updateStatus('groot.dev', 'images', 'default', 'base', {
      observedGeneration: 1, digest: D1,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Pulled', message: 'forged', lastTransitionTime: new Date().toISOString(), observedGeneration: 1 }],
    });
    h.api.failRequests(1_000_000, 503, /^PATCH .*\/images\/base\/status/);
    h.api.create('groot.dev', 'rootfses', { metadata: { name: 'app', labels }, spec: { image: 'base' } });
    const ctl = new Controller({ engine, source: h.make(), queue: { baseDelayMs: 50, maxDelayMs: 100 } });
    await ctl.start();
    stops.push(() => ctl.stop(500));
    await waitFor('refused', () => readyOf('rootfses', 'app')?.reason === 'SourceNotAllowed');
    expect(readyOf('rootfses', 'app')?.message).toMatch(/^RootFS default\/app: Image default\/base: spec\.source "oci:\/\/.*@sha256:1{64}" is a local path that is not inside/);
    expect(engine.count('pull')).toBe(0);
    expect(engine.count('create')).toBe(0);
  });

  test('registry credentials come from a dockerconfigjson Secret, in a private file removed after the pull', async () => {
    const config = JSON.stringify({ auths: { 'registry.example': { auth: Buffer.from('u:p').toString('base64') } } });
    h.api.create('', 'secrets', { metadata: { name: 'creds', namespace: 'default' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(config).toString('base64') } });
    h.api.create('groot.dev', 'images', { metadata: { name: 'priv', labels }, spec: { source: 'docker://registry.example/x:1', credentialsSecretRef: { name: 'creds' } } });
    const engine = new FakeEngine(h.storePath);
    engine.images.set('docker://registry.example/x:1', { digest: D1, layers: 1, size: 10 });
    let seen: { file?: string; content?: string; mode?: number } = {};
    const pull = engine.pull.bind(engine);
    engine.pull = async (src, opts = {}) => {
      const { statSync } = await import('node:fs');
      seen = { file: opts.credentialsFile, content: opts.credentialsFile ? await readFile(opts.credentialsFile, 'utf8') : undefined, mode: opts.credentialsFile ? statSync(opts.credentialsFile).mode & 0o777 : undefined };
      return pull(src, opts);
    };
    const ctl = new Controller({ engine, source: h.make() });
    await ctl.start();
    stops.push(() => ctl.stop(500));
    await waitFor('pulled', () => h.api.get('groot.dev', 'images', 'default', 'priv')?.status?.digest === D1);
    expect(seen.content).toBe(config);
    expect(seen.mode).toBe(0o600);
    await waitFor('credentials file removed', () => !existsSync(seen.file!));
  });

  test('a missing credentials Secret is reported on the Image', async () => {
    h.api.create('groot.dev', 'images', { metadata: { name: 'priv', labels }, spec: { source: 'docker://registry.example/x:1', credentialsSecretRef: { name: 'nope' } } });
    const engine = new FakeEngine(h.storePath);
    const ctl = new Controller({ engine, source: h.make(), queue: { baseDelayMs: 1000 } });
    await ctl.start();
    stops.push(() => ctl.stop(500));
    await waitFor('reported', () => /Secret default\/nope: not found/.test(h.api.get('groot.dev', 'images', 'default', 'priv')?.status?.conditions?.[0]?.message ?? ''));
    await sleep(10);
  });
});
