// One conformance suite for every source of desired state (drop-in files, Kubernetes API).
import type { Change, Source } from '../../src/controller/source.js';
import { HARNESSES, type SourceHarness } from '../helpers/controller-source-harness.js';
import { waitFor, sleep } from '../helpers/controller-wait.js';

const image = (name: string, source = 'oci:///images/base:v1') => ({ kind: 'Image' as const, name, spec: { source } });
const rootfs = (name: string, img = 'base', extra: Record<string, unknown> = {}) => ({ kind: 'RootFS' as const, name, spec: { image: img, ...extra } });

describe.each(HARNESSES)('source conformance: %s', (_name, makeHarness) => {
  let h: SourceHarness;
  let src: Source | undefined;
  let changes: Change[];

  const start = async (s = h.make()) => {
    src = s;
    changes = [];
    await s.start((c) => changes.push(c));
    expect(await s.waitForSync(5000)).toBe(true);
    return s;
  };
  const seen = (type: Change['type'], key: string) => waitFor(`${type} ${key}`, () => changes.some((c) => c.type === type && c.key === key), 2000);

  beforeEach(async () => { h = await makeHarness(); });
  afterEach(async () => { await src?.stop(); src = undefined; await h.close(); });

  test('lists what exists at start, stamps uid/generation/creationTimestamp, filters by kind', async () => {
    await h.put(image('base'));
    await h.put(rootfs('app'));
    const s = await start();
    expect(s.synced()).toBe(true);
    const app = s.get('RootFS/default/app');
    expect(app?.spec).toMatchObject({ image: 'base' });
    expect(app?.metadata.generation).toBe(1);
    expect(app?.metadata.uid).toMatch(/\S+/);
    expect(Date.parse(app!.metadata.creationTimestamp!)).toBeGreaterThan(Date.now() - 60_000);
    expect(s.list('Image').map((o) => o.metadata.name)).toEqual(['base']);
    expect(s.list().length).toBe(2);
    expect(changes.filter((c) => c.type === 'added').map((c) => c.key).sort()).toEqual(['Image/default/base', 'RootFS/default/app']);
  });

  test('adding, changing and deleting objects is seen within a second; spec changes bump generation', async () => {
    const s = await start();
    const t0 = Date.now();
    await h.put(image('base'));
    await seen('added', 'Image/default/base');
    expect(Date.now() - t0).toBeLessThan(1000);

    await h.put(image('base', 'oci:///images/base:v2'));
    await seen('modified', 'Image/default/base');
    expect(s.get('Image/default/base')?.metadata.generation).toBe(2);
    expect(s.get('Image/default/base')?.spec).toMatchObject({ source: 'oci:///images/base:v2' });

    const before = changes.length;
    await h.touchStatus('Image', 'base');
    await sleep(300);
    expect(changes.slice(before).filter((c) => c.type === 'modified')).toEqual([]); // status-only: not a change to reconcile

    const t1 = Date.now();
    await h.remove('Image', 'base');
    await seen('deleted', 'Image/default/base');
    expect(Date.now() - t1).toBeLessThan(1000);
    expect(s.get('Image/default/base')).toBeUndefined();
  });

  test('objects labelled for another node are not seen; relabelling one away deletes it', async () => {
    await h.put({ ...image('theirs'), labels: { 'groot.dev/node': 'node-b' } });
    await h.put(image('ours'));
    const s = await start();
    expect(s.list().map((o) => o.metadata.name)).toEqual(['ours']);
    await h.put({ ...image('ours'), labels: { 'groot.dev/node': 'node-b' } });
    await seen('deleted', 'Image/default/ours');
    expect(s.list()).toEqual([]);
  });

  test('deletion with finalizers: the object goes once the finalizer is removed', async () => {
    await h.put(rootfs('app'));
    const s = await start();
    let obj = s.get('RootFS/default/app')!;
    obj = await s.addFinalizer(obj);
    if (s.usesFinalizers) {
      expect(obj.metadata.finalizers).toContain('groot.dev/cleanup');
      await waitFor('finalizer in cache', () => s.get('RootFS/default/app')?.metadata.finalizers?.includes('groot.dev/cleanup'));
    }
    await h.remove('RootFS', 'app');
    const gone = await waitFor('deleting', () => {
      const o = s.get('RootFS/default/app');
      return !o ? 'gone' : o.metadata.deletionTimestamp ? o : false;
    });
    if (gone !== 'gone') {
      expect(s.usesFinalizers).toBe(true);
      await s.removeFinalizer(gone);
    }
    await seen('deleted', 'RootFS/default/app');
    expect(s.get('RootFS/default/app')).toBeUndefined();
  });

  test('status written through the source is where users look; omitted fields are removed', async () => {
    await h.put(image('base'));
    const s = await start();
    const obj = s.get('Image/default/base')!;
    await s.status.write(obj, { observedGeneration: 1, progress: { bytesDone: 1, bytesTotal: 2 }, conditions: [{ type: 'Ready', status: 'False', reason: 'Pulling', message: 'pulling', lastTransitionTime: new Date().toISOString() }] });
    expect(await h.readStatus('Image', 'base')).toMatchObject({ progress: { bytesDone: 1, bytesTotal: 2 }, conditions: [{ type: 'Ready', reason: 'Pulling' }] });
    await s.status.write(obj, { observedGeneration: 1, digest: 'sha256:aa', conditions: [{ type: 'Ready', status: 'True', reason: 'Pulled', message: 'ok', lastTransitionTime: new Date().toISOString() }] });
    const st = await h.readStatus('Image', 'base');
    expect(st).toMatchObject({ digest: 'sha256:aa', conditions: [{ type: 'Ready', status: 'True' }] });
    expect(st?.progress).toBeUndefined();
    expect(s.get('Image/default/base')?.spec).toMatchObject({ source: 'oci:///images/base:v1' }); // status never touches spec
  });

  test('an unreadable source keeps its objects and reports no deletions; healing catches up', async () => {
    await h.put(image('base'));
    await h.put(rootfs('app'));
    const s = await start();
    await h.breakSource();
    await sleep(1200);
    expect(changes.filter((c) => c.type === 'deleted')).toEqual([]);
    expect(s.get('RootFS/default/app')).toBeDefined();
    await h.healSource();
    await h.remove('RootFS', 'app');
    await waitFor('deleted after heal', () => changes.some((c) => c.type === 'deleted' && c.key === 'RootFS/default/app'), 8000);
    expect(s.synced()).toBe(true);
    expect(s.get('Image/default/base')).toBeDefined();
  });

  test('a restarted source keeps uid, creation time and generation', async () => {
    await h.put(image('base'));
    let s = await start();
    await h.put(image('base', 'oci:///images/base:v2'));
    await seen('modified', 'Image/default/base');
    const before = s.get('Image/default/base')!;
    await s.status.write(before, { observedGeneration: 2 });
    await s.stop();
    s = await start(h.make());
    const after = s.get('Image/default/base')!;
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.metadata.creationTimestamp).toBe(before.metadata.creationTimestamp);
    expect(after.metadata.generation).toBe(2);
    expect(after.status).toMatchObject({ observedGeneration: 2 });
  });
});
