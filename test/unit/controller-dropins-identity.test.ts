// Identity of drop-in objects (uid, creationTimestamp, generation) across restarts and lost
// status files. The RootFS reconciler replaces a root filesystem whose controller record has
// another uid, so a uid that changes without the object really being re-created wipes a
// container's writes.
import { jest } from '@jest/globals';
import { mkdir, rm, writeFile, rename, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StatusFiles } from '../../src/controller/status-files.js';
import { Records } from '../../src/controller/records.js';
import { rootfsDefaults } from '../../src/api/index.js';
import { waitFor } from '../helpers/controller-wait.js';
import { IMAGE_YAML as IMAGE, rootfsYaml as ROOTFS, useDropinController, useDropinSource, warningsIn } from '../helpers/controller-dropins-fake.js';

const KEY = 'RootFS/default/app';

describe('drop-in identity', () => {
  const h = useDropinSource('groot-ident-');
  const { start } = h;
  let dropins: string; let store: string; let logFile: string; let files: StatusFiles; let records: Records;
  beforeEach(() => { ({ dropins, store, logFile, files } = h); records = new Records(store); });
  /** Replace a drop-in file the way editors and config management do: a new inode, renamed over. */
  const replace = async (name: string, text: string) => {
    await writeFile(join(dropins, `.${name}.new`), text);
    await rename(join(dropins, `.${name}.new`), join(dropins, name));
  };
  const putRecord = (uid: string, createdAt = '2026-01-02T03:04:05.678Z') => records.putRootfs({ id: 'app', namespace: 'default', name: 'app', uid, spec: rootfsDefaults({ image: 'base' }), source: 'oci:///img:v1', createdAt });
  const warnings = () => warningsIn(logFile);

  test('no status file: the object takes the uid and creation time of its controller record', async () => {
    await putRecord('uid-of-record');
    await writeFile(join(dropins, 'app.yaml'), ROOTFS('app'));
    const s = await start();
    expect(s.get(KEY)?.metadata).toMatchObject({ uid: 'uid-of-record', creationTimestamp: '2026-01-02T03:04:05Z', generation: 1 });
    // Written back, the identity is in the status file for the next start.
    await s.status.write(s.get(KEY)!, { observedGeneration: 1 });
    expect((await files.readObject('RootFS', 'default', 'app'))?.metadata.uid).toBe('uid-of-record');
    const s2 = await start();
    expect(s2.get(KEY)?.metadata.uid).toBe('uid-of-record');
  });

  test('a replaced file with another spec keeps the uid and bumps the generation, also when the identity came from the record', async () => {
    await putRecord('uid-of-record');
    await writeFile(join(dropins, 'app.yaml'), ROOTFS('app'));
    const s = await start();
    await replace('app.yaml', ROOTFS('app', ', diskLimitBytes: 5'));
    await waitFor('modified', () => h.changes.some((c) => c.type === 'modified' && c.key === KEY), 3000);
    expect(s.get(KEY)?.metadata).toMatchObject({ uid: 'uid-of-record', generation: 2 });
    await s.status.write(s.get(KEY)!, { observedGeneration: 2 });
    // And while the controller is down: the status file's generation is the base.
    await s.stop();
    await replace('app.yaml', ROOTFS('app', ', diskLimitBytes: 7'));
    const s2 = await start();
    expect(s2.get(KEY)?.metadata).toMatchObject({ uid: 'uid-of-record', generation: 3 });
  });

  test.each([
    ['empty (0 bytes)', ''],
    ['garbage', '\u0000\u0000{"kind": "RootFS", "metad'],
    ['JSON that is not the object', '{"kind": "RootFS"}'],
  ])('a status file that is %s is treated as missing: warned once, no crash, the record\'s uid kept, the file written again', async (_what, content) => {
    await putRecord('uid-of-record');
    await writeFile(join(dropins, 'app.yaml'), IMAGE + '---\n' + ROOTFS('app'));
    const path = files.objectPath('RootFS', 'default', 'app');
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content);
    const s = await start();
    expect(s.get(KEY)?.metadata.uid).toBe('uid-of-record');
    expect(s.get('Image/default/base')).toBeDefined();
    const w = (await warnings()).filter((l) => l.file === path);
    expect(w).toHaveLength(1);
    expect(w[0]!.msg).toMatch(/^status file of RootFS default\/app holds no usable object/);
    await s.status.write(s.get(KEY)!, { observedGeneration: 1 });
    expect((await files.readObject('RootFS', 'default', 'app'))?.metadata.uid).toBe('uid-of-record');
    await start();
    expect((await warnings()).filter((l) => l.file === path)).toHaveLength(1); // healed: not said again
  });

  test('an unusable status file of an object that is gone is removed at start', async () => {
    const path = files.objectPath('RootFS', 'default', 'gone');
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, '');
    await start();
    await waitFor('removed', async () => !(await readFile(path).then(() => true, () => false)), 3000);
  });

  test('the status file\'s identity wins over a record; only an object seen gone and back gets a fresh uid', async () => {
    await writeFile(join(dropins, 'app.yaml'), ROOTFS('app'));
    let s = await start();
    const uid = s.get(KEY)!.metadata.uid!;
    await s.status.write(s.get(KEY)!, { observedGeneration: 1 });
    await putRecord('uid-of-an-older-object');
    s = await start();
    expect(s.get(KEY)?.metadata.uid).toBe(uid);

    await unlink(join(dropins, 'app.yaml'));
    await waitFor('deleted', () => h.changes.some((c) => c.type === 'deleted' && c.key === KEY), 3000);
    h.changes.length = 0;
    await writeFile(join(dropins, 'app.yaml'), ROOTFS('app'));
    await waitFor('added', () => h.changes.some((c) => c.type === 'added' && c.key === KEY), 3000);
    const fresh = s.get(KEY)!.metadata.uid!;
    expect(fresh).not.toBe(uid);
    expect(fresh).not.toBe('uid-of-an-older-object');
  });

  test('a drop-in removed while the controller was down is a new object when it comes back', async () => {
    await putRecord('uid-of-record'); // its root filesystem is removed by start-up repair
    await writeFile(join(dropins, 'app.yaml'), ROOTFS('app'));
    let s = await start();
    await s.status.write(s.get(KEY)!, { observedGeneration: 1 });
    await s.stop();
    await unlink(join(dropins, 'app.yaml'));
    s = await start();
    expect(s.get(KEY)).toBeUndefined();
    await writeFile(join(dropins, 'app.yaml'), ROOTFS('app'));
    await waitFor('added', () => h.changes.some((c) => c.type === 'added' && c.key === KEY), 3000);
    expect(s.get(KEY)?.metadata.uid).not.toBe('uid-of-record');
  });

  test('status writes are durable when they carry a new identity, and only then', async () => {
    await writeFile(join(dropins, 'app.yaml'), ROOTFS('app'));
    const s = await start();
    const spy = jest.spyOn(s.files, 'writeObject');
    const durable = () => spy.mock.calls.map((c) => (c[1] as { durable?: boolean } | undefined)?.durable ?? false);
    await s.status.write(s.get(KEY)!, { observedGeneration: 1 });
    await s.status.write(s.get(KEY)!, { observedGeneration: 1, path: '/x' });
    await replace('app.yaml', ROOTFS('app', ', diskLimitBytes: 5'));
    await waitFor('generation 2', () => s.get(KEY)?.metadata.generation === 2, 3000);
    await s.status.write(s.get(KEY)!, { observedGeneration: 2 });
    await s.status.write(s.get(KEY)!, { observedGeneration: 2, path: '/x' });
    expect(durable()).toEqual([true, false, true, false]);
    // After a restart the identity read from the file is on disk already.
    const s2 = await start();
    const spy2 = jest.spyOn(s2.files, 'writeObject');
    await s2.status.write(s2.get(KEY)!, { observedGeneration: 2, path: '/y' });
    expect(spy2.mock.calls.map((c) => (c[1] as { durable?: boolean } | undefined)?.durable)).toEqual([false]);
  });
});

describe('controller over drop-ins: a lost status file keeps the root filesystem (fake engine)', () => {
  const h = useDropinController('groot-ident-ctl-');
  const { start, ready } = h;

  test.each([
    ['deleted', async (p: string) => { await rm(p); }],
    ['truncated to 0 bytes', async (p: string) => { await writeFile(p, ''); }],
  ])('status files %s while stopped: Ready again, nothing deleted or re-created', async (_what, lose) => {
    await writeFile(join(h.dropins, 'a.yaml'), IMAGE + '---\n' + ROOTFS('app'));
    await start();
    await waitFor('app ready', () => ready('app'));
    const uid = (await h.files.readObject('RootFS', 'default', 'app'))!.metadata.uid;
    expect(uid).toMatch(/\S/);
    await h.stop();
    await lose(h.files.objectPath('RootFS', 'default', 'app'));
    await lose(h.files.objectPath('Image', 'default', 'base'));
    await start();
    await waitFor('app ready again', () => ready('app'));
    await h.whenIdle();
    expect(h.engine.count('delete')).toBe(0);
    expect(h.engine.count('create')).toBe(1);
    expect(h.engine.rootfs.has('app')).toBe(true);
    expect((await h.files.readObject('RootFS', 'default', 'app'))!.metadata.uid).toBe(uid);
    expect((await new Records(h.store).getRootfs('app'))?.uid).toBe(uid);
  });
});
