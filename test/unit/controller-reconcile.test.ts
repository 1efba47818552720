// Controller behaviour over both sources (the same scenarios, drop-ins and Kubernetes),
// with an in-memory engine. Local sources live in a real directory the Kubernetes source
// is allowed to read (source-policy.ts refuses paths that do not exist).
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, type ControllerOptions } from '../../src/controller/controller.js';
import { Records } from '../../src/controller/records.js';
import { getCondition, type Condition } from '../../src/api/index.js';
import { FakeEngine } from '../helpers/controller-fake-engine.js';
import { HARNESSES, type SourceHarness } from '../helpers/controller-source-harness.js';
import { waitFor, sleep } from '../helpers/controller-wait.js';
import { StoreFullError } from '../../src/errors/index.js';

const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);

describe.each(HARNESSES)('controller over %s', (_n, makeHarness) => {
  let h: SourceHarness; let engine: FakeEngine; let ctl: Controller | undefined;
  let lib: string; let V1: string; let V2: string;

  beforeEach(async () => {
    h = await makeHarness();
    lib = await realpath(await mkdtemp(join(tmpdir(), 'groot-lib-')));
    await mkdir(join(lib, 'img'));
    V1 = `oci://${lib}/img:v1`; V2 = `oci://${lib}/img:v2`;
    engine = new FakeEngine(h.storePath);
    engine.images.set(V1, { digest: D1, layers: 2, size: 4000 });
    engine.images.set(V2, { digest: D2, layers: 3, size: 5000 });
  });
  afterEach(async () => { await ctl?.stop(500); ctl = undefined; await h.close(); await rm(lib, { recursive: true, force: true }); });

  const start = async (o: Partial<ControllerOptions> = {}) => {
    ctl = new Controller({
      engine, source: h.make(), settings: { usageMs: 200, progressMs: 0, unsyncedRetryMs: 100 }, queue: { baseDelayMs: 20, maxDelayMs: 200 },
      sourcePolicy: { localSourceDirs: [lib] }, ...o,
    });
    await ctl.start();
    await waitFor('controller ready', () => ctl!.ready());
    return ctl;
  };
  const cond = async (kind: 'Image' | 'RootFS', name: string, type = 'Ready') => getCondition((await h.readStatus(kind, name))?.conditions as Condition[] | undefined, type);
  const until = (kind: 'Image' | 'RootFS', name: string, reason: string, ms = 4000) => waitFor(`${kind} ${name} ${reason}`, async () => (await cond(kind, name))?.reason === reason, ms);
  const img = (name: string, source = V1, extra = {}) => h.put({ kind: 'Image', name, spec: { source, ...extra } });
  const rfs = (name: string, spec: Record<string, unknown> = {}) => h.put({ kind: 'RootFS', name, spec: { image: 'base', ...spec } });

  test('the operator\'s registry settings (mirrors, layer concurrency, credentials file) ride on every pull and create', async () => {
    const registry = { mirrors: { 'docker.io': ['https://mirror.example'] }, concurrency: 2, credentialsFile: '/etc/groot/auth.json' };
    await img('base');
    await rfs('app');
    await start({ settings: { usageMs: 200, progressMs: 0, unsyncedRetryMs: 100, registry } });
    await until('RootFS', 'app', 'Mounted');
    expect(engine.pulls[0]).toMatchObject(registry);
    expect(engine.creates[0]).toMatchObject(registry);
  });

  test('a RootFS waits for its Image and becomes Ready when the Image does', async () => {
    await rfs('app', { diskLimitBytes: 4096 });
    await start();
    await until('RootFS', 'app', 'ImageNotFound');
    expect((await cond('RootFS', 'app', 'ImageReady'))?.message).toMatch(/Image default\/base does not exist/);
    await img('base');
    await until('RootFS', 'app', 'Mounted');
    const st = await waitFor('usage measured', async () => { const x = await h.readStatus('RootFS', 'app'); return x?.usage ? x : undefined; });
    expect(st).toMatchObject({ observedGeneration: 1, path: `${h.storePath}/images/app/rootfs`, imageDigest: D1, usage: { totalBytesUsed: 1000, quotaSizeBytes: 4096 } });
    expect(st?.mounts).toBeUndefined();
    expect((st?.conditions as Condition[]).map((c) => c.type)).toEqual(['Ready', 'ImageReady', 'Mounted', 'QuotaApplied']);
    expect(await h.readStatus('Image', 'base')).toMatchObject({ digest: D1, layers: 2, size: { unpackedBytes: 4000 } });
    expect(engine.pins.get('controller_default_base')).toBe(D1);
    expect(engine.count('create')).toBe(1);
    expect(engine.creates[0]!.source).toBe(`oci://${lib}/img@${D1}`); // exactly what the Image pulled
    expect(engine.creates[0]!.preferCached).toBe(true); // ... from the store, without asking the source again
  });

  test('spec.mount false: created unmounted, status.mounts says how', async () => {
    await img('base'); await rfs('lazy', { mount: false });
    await start();
    await until('RootFS', 'lazy', 'Created');
    const st = await h.readStatus('RootFS', 'lazy');
    expect(st?.mounts).toEqual([expect.objectContaining({ destination: '/', type: 'overlay' })]);
    expect((await cond('RootFS', 'lazy', 'Mounted'))?.reason).toBe('MountDelegated');
  });

  test('changing an immutable field is refused in status and not applied; reverting heals', async () => {
    await img('base'); await rfs('app', { diskLimitBytes: 1000 });
    await start();
    await until('RootFS', 'app', 'Mounted');
    await rfs('app', { diskLimitBytes: 2000 });
    await until('RootFS', 'app', 'ImmutableFieldChanged');
    const c = await cond('RootFS', 'app');
    expect(c?.message).toMatch(/spec\.diskLimitBytes 1000 -> 2000/);
    expect(c?.observedGeneration).toBe(2);
    expect(engine.count('create')).toBe(1);
    expect(engine.count('delete')).toBe(0);
    expect(engine.rootfs.get('app')?.diskLimitBytes).toBe(1000);
    await rfs('app', { diskLimitBytes: 1000 });
    await until('RootFS', 'app', 'Mounted');
    expect(engine.count('create')).toBe(1);
  });

  test('an invalid spec is reported naming the field, changes nothing, and heals when fixed', async () => {
    await img('base'); await rfs('app', { image: 'Not A Name' });
    await start();
    await until('RootFS', 'app', 'InvalidSpec');
    expect((await cond('RootFS', 'app'))?.message).toMatch(/RootFS default\/app.*spec\.image: must be an Image name or a source/);
    expect(engine.count('create')).toBe(0);
    await rfs('app');
    await until('RootFS', 'app', 'Mounted');
  });

  test('deleting a RootFS unmounts and removes it; deleting the Image unpins it', async () => {
    await img('base'); await rfs('app');
    await start();
    await until('RootFS', 'app', 'Mounted');
    await h.remove('RootFS', 'app');
    await waitFor('engine delete', () => !engine.rootfs.has('app'));
    // The record goes after the engine's delete returned (reconcile-rootfs.ts): waited for, not raced.
    await waitFor('record removed', async () => (await new Records(h.storePath).getRootfs('app')) === undefined);
    await waitFor('status gone', async () => (await h.readStatus('RootFS', 'app')) === undefined);
    await h.remove('Image', 'base');
    await waitFor('unpinned', () => !engine.pins.has('controller_default_base'));
  });

  test('a failed pull is reported and retried with backoff until it works', async () => {
    engine.failures.set('pull', new Error('registry unreachable'));
    await img('base'); await rfs('app');
    await start();
    await until('Image', 'base', 'PullFailed');
    expect((await cond('Image', 'base'))?.message).toBe(`pull of ${V1} failed: registry unreachable (retrying with backoff)`);
    await until('RootFS', 'app', 'WaitingForImage');
    const tries = engine.count('pull');
    await waitFor('retries', () => engine.count('pull') >= tries + 2);
    engine.failures.delete('pull');
    await until('RootFS', 'app', 'Mounted');
  });

  test('a full store says StoreFull on the Image and on the RootFS, not a generic failure', async () => {
    const full = () => new StoreFullError(`layer 1/1 x of ${V1}: entry "f": write failed: no space left on the store's filesystem (${h.storePath})`);
    engine.failures.set('pull', full());
    await img('base'); await rfs('app');
    await start();
    await until('Image', 'base', 'StoreFull');
    expect((await cond('Image', 'base'))?.message).toMatch(/no space left on the store's filesystem/);
    engine.failures.delete('pull');
    engine.failures.set('create', full());
    await until('RootFS', 'app', 'StoreFull');
    engine.failures.delete('create');
    await until('RootFS', 'app', 'Mounted');
  });

  test('progress is reported in status while pulling and cleared when done', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const pull = engine.pull.bind(engine);
    engine.pull = async (src, opts = {}) => {
      opts.onProgress?.({ bytesDone: 100, bytesTotal: 1000, layers: [{ digest: 'sha256:x', bytesDone: 100, bytesTotal: 1000, state: 'fetching' }] });
      await sleep(50);
      opts.onProgress?.({ bytesDone: 400, bytesTotal: 1000, layers: [{ digest: 'sha256:x', bytesDone: 400, bytesTotal: 1000, state: 'fetching' }] });
      await gate;
      return pull(src, opts);
    };
    await img('base');
    await start();
    const st = await waitFor('progress in status', async () => { const x = await h.readStatus('Image', 'base'); return (x?.progress as { bytesDone: number } | undefined)?.bytesDone === 400 ? x : undefined; });
    expect(st.progress).toEqual({ bytesDone: 400, bytesTotal: 1000 });
    expect((await cond('Image', 'base'))).toMatchObject({ status: 'False', reason: 'Pulling', message: `pulling ${V1}: 400 of 1000 bytes` });
    release();
    await until('Image', 'base', 'Pulled');
    expect((await h.readStatus('Image', 'base'))?.progress).toBeUndefined();
  });

  test('pullPolicy Always re-resolves every resync period; IfNotPresent pulls once', async () => {
    await img('always', V1, { pullPolicy: 'Always' });
    await img('once', V2);
    await start({ settings: { resyncMs: 300, usageMs: 1000, progressMs: 0, unsyncedRetryMs: 100 } });
    await until('Image', 'always', 'Pulled'); await until('Image', 'once', 'Pulled');
    await sleep(1000);
    const pulls = engine.calls.filter((c) => c.op === 'pull');
    expect(pulls.filter((c) => c.arg === V1).length).toBeGreaterThanOrEqual(3);
    expect(pulls.filter((c) => c.arg === V2).length).toBe(1);
  });

  test('restart: remounts what lost its mount, removes what lost its object, leaves the rest alone', async () => {
    await img('base'); await rfs('keep'); await rfs('gone');
    await start();
    await until('RootFS', 'keep', 'Mounted'); await until('RootFS', 'gone', 'Mounted');
    await ctl!.stop(500); ctl = undefined;
    // While the controller is down: a reboot takes the mounts, one object is deleted,
    // and Garden makes a root filesystem of its own in the same store.
    for (const r of engine.rootfs.values()) r.mounted = false;
    await h.remove('RootFS', 'gone');
    await engine.create({ id: 'garden-container', source: V1 });
    await start();
    await waitFor('orphan removed', () => !engine.rootfs.has('gone'));
    await waitFor('remounted', () => engine.rootfs.get('keep')?.mounted === true);
    expect(engine.calls.filter((c) => c.op === 'remount').map((c) => c.arg)).toEqual(['keep']);
    expect(engine.rootfs.has('garden-container')).toBe(true);
    expect(engine.count('create')).toBe(3); // 2 + Garden's: nothing recreated
  });

  test('while the source is unreadable nothing is removed', async () => {
    await img('base'); await rfs('app');
    await start();
    await until('RootFS', 'app', 'Mounted');
    await h.breakSource();
    await sleep(1500);
    expect(engine.count('delete')).toBe(0);
    expect(engine.rootfs.has('app')).toBe(true);
    await h.healSource();
    await sleep(500);
    expect(engine.count('delete')).toBe(0);
  });

  test('uid/gid mappings must be the store\'s own (fixed at init-store)', async () => {
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(`${h.storePath}/meta`, { recursive: true });
    await writeFile(`${h.storePath}/meta/namespace.json`, JSON.stringify({ uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [] }));
    await img('base');
    await rfs('same', { uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] });
    await rfs('other', { uidMappings: [{ containerID: 0, hostID: 4294967294, size: 1 }] });
    await start();
    await until('RootFS', 'same', 'Mounted');
    await until('RootFS', 'other', 'IDMappingsMismatch');
    expect((await cond('RootFS', 'other'))?.message).toMatch(/spec\.uidMappings \[\[0,4294967294,1\]\] differ from the store's \[\[0,100000,65536\]\]/);
    expect(engine.rootfs.has('other')).toBe(false);
  });

  test('a local source outside the allowed directories: refused from Kubernetes (no pull, no create), used from drop-ins', async () => {
    const outside = await realpath(await mkdtemp(join(tmpdir(), 'groot-outside-')));
    try {
      await mkdir(join(outside, 'img'));
      await writeFile(join(outside, 'rootfs.tar'), '');
      const far = `oci://${outside}/img:v1`;
      const tar = `${outside}/rootfs.tar`;
      engine.images.set(far, { digest: D2, layers: 1, size: 10 });
      engine.images.set(tar, { digest: D2, layers: 1, size: 10 });
      await img('far', far); await rfs('on-far', { image: 'far' }); await rfs('direct', { image: tar });
      await start();
      if (h.name === 'dropins') {
        // The operator's own files: today's behaviour.
        await until('Image', 'far', 'Pulled'); await until('RootFS', 'on-far', 'Mounted'); await until('RootFS', 'direct', 'Mounted');
        return;
      }
      await until('Image', 'far', 'SourceNotAllowed');
      await until('RootFS', 'direct', 'SourceNotAllowed');
      await until('RootFS', 'on-far', 'WaitingForImage');
      expect(await cond('Image', 'far')).toMatchObject({ status: 'False', observedGeneration: 1, message: expect.stringContaining(`Image default/far: spec.source "${far}" is a local path that is not inside a directory this node allows Kubernetes objects to read from (allowed: ${lib}); the node's operator can allow one with \`groot controller --local-source-dir DIR\``) });
      expect(await cond('RootFS', 'direct', 'ImageReady')).toMatchObject({ status: 'False', reason: 'SourceNotAllowed', message: expect.stringContaining(`RootFS default/direct: spec.image "${tar}" is a local path`) });
      // The refusal re-queues the RootFS waiting for the Image, so it can say why.
      await waitFor('RootFS says why', async () => /waiting for Image default\/far to be Ready: SourceNotAllowed: Image default\/far: spec\.source/.test((await cond('RootFS', 'on-far'))?.message ?? ''));
      await sleep(300);
      expect(engine.count('pull')).toBe(0);
      expect(engine.count('create')).toBe(0);
      expect(await new Records(h.storePath).getRootfs('direct')).toBeUndefined();
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  test('insecure: true from Kubernetes counts only for the operator\'s registries; drop-ins may use it anywhere', async () => {
    for (const r of ['listed', 'other']) engine.images.set(`docker://${r}.example/x:1`, { digest: D1, layers: 1, size: 10 });
    const insecureOf = new Map<string, string[] | undefined>(); // pin -> what the engine was told
    const pull = engine.pull.bind(engine);
    engine.pull = async (src, opts = {}) => { insecureOf.set(opts.pin!, opts.insecureRegistries); return pull(src, opts); };
    await img('listed', 'docker://listed.example/x:1', { insecure: true });
    await img('other', 'docker://other.example/x:1', { insecure: true });
    await img('verified', 'docker://other.example/x:1');
    await start({ sourcePolicy: { localSourceDirs: [lib], insecureRegistries: ['listed.example'] } });
    await until('Image', 'listed', 'Pulled'); await until('Image', 'verified', 'Pulled');
    expect(insecureOf.get('controller_default_listed')).toEqual(['listed.example']);
    expect(insecureOf.get('controller_default_verified')).toBeUndefined();
    if (h.name === 'dropins') {
      await until('Image', 'other', 'Pulled');
      expect(insecureOf.get('controller_default_other')).toEqual(['other.example']);
      return;
    }
    await until('Image', 'other', 'InsecureNotAllowed');
    expect((await cond('Image', 'other'))?.message).toMatch(/^Image default\/other: spec\.insecure is true, but registry "other\.example" is not one this node allows .*--insecure-registry HOST/);
    await sleep(300);
    expect(insecureOf.has('controller_default_other')).toBe(false);
  });

  test('garbage collection runs on its own when a threshold is configured', async () => {
    await start({ gcThresholdBytes: 1, gcIntervalMs: 100 });
    await waitFor('clean called', () => engine.cleaned >= 2);
    expect(engine.calls.find((c) => c.op === 'clean')?.arg).toBe('1');
  });

  test('graceful shutdown aborts in-flight work past the deadline and leaves no record behind', async () => {
    let release!: () => void;
    engine.gates.set('create', new Promise<void>((r) => { release = r; }));
    await img('base'); await rfs('app');
    await start();
    await waitFor('create in flight', () => engine.count('create') === 1);
    const t0 = Date.now();
    await ctl!.stop(200); ctl = undefined;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    release();
    expect(engine.rootfs.has('app')).toBe(false);
    expect(await new Records(h.storePath).getRootfs('app')).toBeUndefined();
  });
});
