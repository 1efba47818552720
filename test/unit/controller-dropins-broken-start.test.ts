// A drop-in file that is broken when the controller starts (invalid YAML, unreadable, unnamed
// documents) must not delete anything: at start there is no "before" in memory, so the
// objects its status files say it held are kept as last known until it parses again.
// Without that, start-up repair removes their root filesystems over a typo.
import { writeFile, unlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StatusFiles } from '../../src/controller/status-files.js';
import { Records } from '../../src/controller/records.js';
import { getObjects } from '../../src/cli/get.js';
import { waitFor } from '../helpers/controller-wait.js';
import { IMAGE_YAML as IMAGE, rootfsYaml as ROOTFS, useDropinController, useDropinSource, warningsIn } from '../helpers/controller-dropins-fake.js';

const KEY = 'RootFS/default/app';
const BROKEN = 'apiVersion: groot.dev/v1alpha1\nkind: RootFS\nmetadata: {name: app\nspec: {image: base}\n';

describe('drop-in source: a file broken at start keeps its objects', () => {
  const h = useDropinSource('groot-broken-');
  const { start } = h;
  let dropins: string; let store: string; let logFile: string; let files: StatusFiles;
  beforeEach(() => { ({ dropins, store, logFile, files } = h); });
  const problems = async () => (await files.readProblems())?.problems ?? [];
  const warnings = () => warningsIn(logFile);
  /** First run: the file is read, the object stamped, its status written (as the controller does). */
  const firstRun = async (text: string) => {
    await writeFile(join(dropins, 'app.yaml'), text);
    const s = await start();
    for (const o of s.list()) await s.status.write(o, { observedGeneration: 1 });
    const uid = s.get(KEY)!.metadata.uid!;
    expect(uid).toMatch(/\S/);
    await h.stop();
    return uid;
  };

  test('invalid YAML at start: the object is still listed with its uid and status, a problem names the file; fixed: normal; deleted: gone', async () => {
    const file = join(dropins, 'app.yaml');
    const uid = await firstRun(IMAGE + '---\n' + ROOTFS('app'));
    await writeFile(file, BROKEN);
    const s = await start();
    expect(s.get(KEY)?.metadata).toMatchObject({ uid, generation: 1, name: 'app', namespace: 'default' });
    expect(s.get(KEY)?.spec).toEqual({ image: 'base' });
    expect(s.get(KEY)?.status).toEqual({ observedGeneration: 1 });
    expect(s.get('Image/default/base')?.metadata.uid).toMatch(/\S/);
    expect(h.changes.filter((c) => c.type === 'deleted')).toEqual([]);
    // The status files stay (they are what says what the file held).
    expect((await files.readObject('RootFS', 'default', 'app'))?.metadata.uid).toBe(uid);
    const p = await problems();
    expect(p[0]).toEqual({ where: file, message: expect.stringMatching(/^not valid YAML \(document 1, line \d+, column \d+\): \S/) });
    expect(p.filter((x) => x.object)).toEqual([
      { where: file, object: 'Image default/base', message: expect.stringMatching(/^Image default\/base kept as last known \(uid \S+, from its status file\).*nothing is removed until the file parses again/) },
      { where: file, object: 'RootFS default/app', message: expect.stringMatching(/kept as last known/) },
    ]);
    expect(s.problems()).toEqual(p);
    // Where a user looks: `groot get` warns, naming the file, the error and the kept object.
    const got = await getObjects(store, 'rootfs', undefined, {});
    expect(got.stdout).toMatch(/^app\b/m);
    expect(got.stderr).toContain(`Warning: ${file}: not valid YAML`);
    expect(got.stderr).toContain(`Warning: ${file}: RootFS default/app kept as last known (uid ${uid}`);
    expect((await warnings()).some((w) => w.file === file && /RootFS default\/app.*kept as last known/.test(w.msg))).toBe(true);
    // Another scan (nothing changed) keeps them too.
    await new Promise((r) => setTimeout(r, 300));
    expect(s.get(KEY)?.metadata.uid).toBe(uid);
    expect(h.changes.filter((c) => c.type === 'deleted')).toEqual([]);

    // Fixed: normal again (same object, no problem); this time without the Image.
    await writeFile(file, ROOTFS('app'));
    await waitFor('problems cleared', async () => (await problems()).length === 0, 3000);
    expect(s.get(KEY)?.metadata.uid).toBe(uid);
    expect(s.get('Image/default/base')).toBeUndefined(); // the file parses and no longer has it
    expect(h.changes.filter((c) => c.type === 'deleted').map((c) => c.key)).toEqual(['Image/default/base']);

    // Broken again while running: kept (as before this change).
    await writeFile(file, BROKEN);
    await waitFor('problem', async () => (await problems()).length > 0, 3000);
    expect(s.get(KEY)?.metadata.uid).toBe(uid);

    // Deleted: really gone.
    await unlink(file);
    await waitFor('deleted', () => h.changes.some((c) => c.type === 'deleted' && c.key === KEY), 3000);
    expect(s.get(KEY)).toBeUndefined();
  });

  test('a broken file deleted while stopped: its objects are gone at start', async () => {
    await firstRun(ROOTFS('app'));
    await unlink(join(dropins, 'app.yaml'));
    await writeFile(join(dropins, 'other.yaml'), BROKEN);
    const s = await start();
    expect(s.get(KEY)).toBeUndefined(); // its file is gone, another file being broken does not hold it
    await waitFor('status file removed', async () => (await files.readObject('RootFS', 'default', 'app')) === undefined, 3000);
  });

  test('a file broken at start and fixed without the object: the object is deleted', async () => {
    const uid = await firstRun(ROOTFS('app'));
    await writeFile(join(dropins, 'app.yaml'), BROKEN);
    const s = await start();
    expect(s.get(KEY)?.metadata.uid).toBe(uid);
    await writeFile(join(dropins, 'app.yaml'), ROOTFS('other'));
    await waitFor('deleted', () => h.changes.some((c) => c.type === 'deleted' && c.key === KEY), 3000);
    await waitFor('other added', () => !!s.get('RootFS/default/other'), 3000);
    expect(s.get('RootFS/default/other')!.metadata.uid).toMatch(/\S/);
    expect(s.get('RootFS/default/other')!.metadata.uid).not.toBe(uid);
  });

  test('an unnamed document at start keeps the file\'s other objects; named ones are read', async () => {
    const uid = await firstRun(IMAGE + '---\n' + ROOTFS('app'));
    await writeFile(join(dropins, 'app.yaml'), IMAGE + '---\nkind: RootFS\nmetadata: {}\nspec: {image: base}\n');
    const s = await start();
    expect(s.get(KEY)?.metadata.uid).toBe(uid);
    expect(s.get('Image/default/base')).toBeDefined();
    const kept = (await problems()).filter((x) => x.object);
    expect(kept.map((x) => x.object)).toEqual(['RootFS default/app']);
  });

  test('a file that cannot be read at start (a symlink loop) keeps its objects', async () => {
    const uid = await firstRun(ROOTFS('app'));
    await unlink(join(dropins, 'app.yaml'));
    await symlink('app.yaml', join(dropins, 'app.yaml'));
    const s = await start();
    expect(s.get(KEY)?.metadata.uid).toBe(uid);
    expect((await problems()).map((p) => p.object ?? p.message)).toEqual([expect.stringMatching(/^cannot read: .*ELOOP|^cannot read: .*symbolic links/), 'RootFS default/app']);
  });
});

describe('controller over drop-ins: a file broken while stopped removes nothing (fake engine)', () => {
  const h = useDropinController('groot-broken-ctl-');
  const { start, ready } = h;

  test('invalid YAML while stopped: start-up repair keeps the root filesystem and its record; deleting the file removes it', async () => {
    await writeFile(join(h.dropins, 'a.yaml'), IMAGE + '---\n' + ROOTFS('app'));
    await start();
    await waitFor('app ready', () => ready('app'));
    const uid = (await h.files.readObject('RootFS', 'default', 'app'))!.metadata.uid;
    expect(uid).toMatch(/\S/);
    await h.stop();
    await writeFile(join(h.dropins, 'a.yaml'), BROKEN);
    await start();
    await h.whenIdle();
    await new Promise((r) => setTimeout(r, 300));
    await h.whenIdle();
    expect(h.engine.count('delete')).toBe(0);
    expect(h.engine.rootfs.has('app')).toBe(true);
    expect((await new Records(h.store).getRootfs('app'))?.uid).toBe(uid);
    expect(await ready('app')).toBe(true);
    expect(((await h.files.readProblems())?.problems ?? []).map((p) => p.object ?? p.where)).toEqual([join(h.dropins, 'a.yaml'), 'Image default/base', 'RootFS default/app']);

    await unlink(join(h.dropins, 'a.yaml'));
    await waitFor('removed', () => !h.engine.rootfs.has('app'), 5000);
    expect(h.engine.count('delete')).toBe(1);
  });
});
