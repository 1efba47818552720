// The controller on the real engine, as root: drop-in files in, real overlay mounts out.
import { mkdtemp, mkdir, rm, writeFile, unlink, readFile, truncate } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEngine, type Engine } from '../../src/rootfs/index.js';
import { unmountTree } from '../../src/store/index.js';
import { mountTable, umount, MNT_DETACH } from '../../src/sys/index.js';
import { Controller } from '../../src/controller/controller.js';
import { DropinSource } from '../../src/controller/source-dropins.js';
import { StatusFiles } from '../../src/controller/status-files.js';
import { Records } from '../../src/controller/records.js';
import { getCondition, type RootFSStatus, type ImageStatus } from '../../src/api/index.js';
import { buildImage } from '../helpers/oci.js';
import { waitFor, sleep } from '../helpers/controller-wait.js';

const asRoot = process.getuid?.() === 0;
const t = asRoot ? test : test.skip;

describe('controller + real engine over drop-ins', () => {
  let dir: string; let dropins: string; let store: string;
  let engine: Engine | undefined; let ctl: Controller | undefined; let files: StatusFiles;
  let v1: string; let v2: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'groot-ctl-e2e-'));
    dropins = join(dir, 'dropins'); store = join(dir, 'store');
    await mkdir(dropins);
    const layout = join(dir, 'layout');
    const d1 = await buildImage(layout, { tag: 'v1', layers: [[{ name: 'etc/', type: 'dir' }, { name: 'etc/os-release', content: 'ID=v1\n' }]] });
    v1 = d1.manifest.digest;
    const d2 = await buildImage(join(dir, 'layout2'), { tag: 'v2', layers: [[{ name: 'etc/', type: 'dir' }, { name: 'etc/os-release', content: 'ID=v2\n' }], [{ name: 'app/', type: 'dir' }, { name: 'app/run', content: 'x', mode: 0o755 }]] });
    v2 = d2.manifest.digest;
    files = new StatusFiles(store);
  });

  afterEach(async () => {
    try {
      await ctl?.stop(2000);
      await engine?.close();
    } finally {
      ctl = undefined; engine = undefined;
      await unmountTree(dir);
      await rm(dir, { recursive: true, force: true });
    }
  });

  const start = async () => {
    engine = await openEngine({ storePath: store, quota: 'none' });
    ctl = new Controller({ engine, source: new DropinSource({ dir: dropins, node: 'n1', storePath: store, rescanMs: 500 }), settings: { usageMs: 300, progressMs: 0 }, queue: { baseDelayMs: 50, maxDelayMs: 500 } });
    await ctl.start();
    await waitFor('ready', () => ctl!.ready());
  };
  const stop = async () => { await ctl!.stop(2000); await engine!.close(); ctl = undefined; engine = undefined; };
  const status = async <T>(kind: 'Image' | 'RootFS', name: string) => (await files.readObject(kind, 'default', name))?.status as T | undefined;
  const reason = async (kind: 'Image' | 'RootFS', name: string) => getCondition((await status<RootFSStatus>(kind, name))?.conditions, 'Ready')?.reason;
  const until = (kind: 'Image' | 'RootFS', name: string, r: string, ms = 10_000) => waitFor(`${kind} ${name} ${r}`, async () => (await reason(kind, name)) === r, ms);
  const mounted = async (p: string) => (await mountTable()).some((m) => m.mountpoint === p);
  const image = (src: string) => `apiVersion: groot.dev/v1alpha1\nkind: Image\nmetadata: {name: base}\nspec: {source: "${src}"}\n`;
  const rootfs = (name: string, extra = '') => `apiVersion: groot.dev/v1alpha1\nkind: RootFS\nmetadata: {name: ${name}}\nspec: {image: base${extra}}\n`;

  t('add, modify and delete drop-ins: real mounts follow', async () => {
    await writeFile(join(dropins, 'image.yaml'), image(`oci://${dir}/layout:v1`));
    await writeFile(join(dropins, 'app.yaml'), rootfs('app') + '---\n' + rootfs('lazy', ', mount: false'));
    await start();
    await until('RootFS', 'app', 'Mounted');
    const root = join(store, 'images', 'app', 'rootfs');
    expect(await mounted(root)).toBe(true);
    expect(await readFile(join(root, 'etc/os-release'), 'utf8')).toBe('ID=v1\n');
    expect((await status<ImageStatus>('Image', 'base'))?.digest).toBe(v1);
    await until('RootFS', 'lazy', 'Created');
    const lazy = await status<RootFSStatus>('RootFS', 'lazy');
    expect(await mounted(lazy!.path!)).toBe(false);
    expect(lazy?.mounts?.[0]).toMatchObject({ destination: '/', type: 'overlay', source: 'overlay', options: [expect.stringMatching(/lowerdir=/)] });

    // Changing the Image's source re-pulls; existing root filesystems keep their image.
    await writeFile(join(dropins, 'image.yaml'), image(`oci://${dir}/layout2:v2`));
    await waitFor('v2 pulled', async () => (await status<ImageStatus>('Image', 'base'))?.digest === v2, 10_000);
    expect((await status<RootFSStatus>('RootFS', 'app'))?.imageDigest).toBe(v1);
    await writeFile(join(dropins, 'app2.yaml'), rootfs('app2'));
    await until('RootFS', 'app2', 'Mounted');
    expect(await readFile(join(store, 'images', 'app2', 'rootfs', 'etc/os-release'), 'utf8')).toBe('ID=v2\n');
    expect((await status<RootFSStatus>('RootFS', 'app2'))?.imageDigest).toBe(v2);

    // A container writes; usage follows.
    await writeFile(join(root, 'data'), Buffer.alloc(256 * 1024, 1));
    await waitFor('usage', async () => ((await status<RootFSStatus>('RootFS', 'app'))?.usage?.exclusiveBytesUsed ?? 0) >= 256 * 1024, 5000);

    // Immutable change refused, mount untouched.
    await writeFile(join(dropins, 'app.yaml'), rootfs('app', ', diskLimitBytes: 1048576') + '---\n' + rootfs('lazy', ', mount: false'));
    await until('RootFS', 'app', 'ImmutableFieldChanged');
    expect(await mounted(root)).toBe(true);

    // A broken file changes nothing.
    await writeFile(join(dropins, 'app.yaml'), 'kind: RootFS\nmetadata: {name: app\n');
    await sleep(1000);
    expect(await mounted(root)).toBe(true);
    expect(((await files.readProblems())?.problems ?? []).map((p) => p.where)).toEqual([join(dropins, 'app.yaml')]);

    // Deleting the file unmounts and removes.
    await unlink(join(dropins, 'app.yaml'));
    await waitFor('app gone', async () => !(await mounted(root)) && !existsSync(join(store, 'images', 'app')), 10_000);
    await waitFor('lazy gone', () => !existsSync(join(store, 'images', 'lazy')), 10_000);
    expect(await mounted(join(store, 'images', 'app2', 'rootfs'))).toBe(true);
    expect((await engine!.list()).map((r) => r.id)).toEqual(['app2']);
  });

  t('restart recovery: unmounted by hand while stopped, mounted again on start; orphans removed', async () => {
    await writeFile(join(dropins, 'image.yaml'), image(`oci://${dir}/layout:v1`));
    await writeFile(join(dropins, 'a.yaml'), rootfs('keep'));
    await writeFile(join(dropins, 'b.yaml'), rootfs('orphan'));
    await start();
    await until('RootFS', 'keep', 'Mounted'); await until('RootFS', 'orphan', 'Mounted');
    await stop();
    const keep = join(store, 'images', 'keep', 'rootfs');
    umount(keep, MNT_DETACH);
    expect(await mounted(keep)).toBe(false);
    await unlink(join(dropins, 'b.yaml'));
    // Garden's own root filesystem in the same store must survive.
    const e = await openEngine({ storePath: store, quota: 'none' });
    await e.create({ id: 'garden', source: `oci://${dir}/layout:v1` });
    await e.close();
    await start();
    await waitFor('remounted', () => mounted(keep), 10_000);
    expect(await readFile(join(keep, 'etc/os-release'), 'utf8')).toBe('ID=v1\n');
    await waitFor('orphan removed', () => !existsSync(join(store, 'images', 'orphan')), 10_000);
    expect((await engine!.list()).map((r) => r.id).sort()).toEqual(['garden', 'keep']);
    await engine!.delete('garden');
  });

  // A power loss can take the last status writes (temp+rename, not fsynced) and the mounts.
  // The uid a drop-in object gets lives in its status file; a new one would read as "the
  // object was re-created" and replace the root filesystem, wiping what the container wrote.
  t.each([
    ['deleted', (p: string) => rm(p, { force: true })],
    ['truncated to 0 bytes', (p: string) => truncate(p, 0)],
    ['garbage', (p: string) => writeFile(p, '{"apiVersion": "groot.dev/v1al\u0000\u0000')],
  ])('status files %s while stopped and the mount gone (a power loss): the container\'s writes survive, same path, Ready again', async (_what, lose) => {
    await writeFile(join(dropins, 'image.yaml'), image(`oci://${dir}/layout:v1`));
    await writeFile(join(dropins, 'app.yaml'), rootfs('app'));
    await start();
    await until('RootFS', 'app', 'Mounted');
    const root = join(store, 'images', 'app', 'rootfs');
    expect((await status<RootFSStatus>('RootFS', 'app'))?.path).toBe(root);
    const uid = (await files.readObject('RootFS', 'default', 'app'))?.metadata.uid;
    expect(uid).toMatch(/\S/);
    await writeFile(join(root, 'container-data'), 'written by the container\n');
    await stop();
    umount(root, MNT_DETACH);
    await lose(files.objectPath('RootFS', 'default', 'app'));
    await lose(files.objectPath('Image', 'default', 'base'));
    await start();
    await until('RootFS', 'app', 'Mounted');
    await ctl!.whenIdle();
    expect(await mounted(root)).toBe(true);
    expect(await readFile(join(root, 'container-data'), 'utf8')).toBe('written by the container\n');
    expect(await readFile(join(root, 'etc/os-release'), 'utf8')).toBe('ID=v1\n');
    expect((await status<RootFSStatus>('RootFS', 'app'))?.path).toBe(root);
    expect((await files.readObject('RootFS', 'default', 'app'))?.metadata.uid).toBe(uid);
    expect((await new Records(store).getRootfs('app'))?.uid).toBe(uid);
    expect((await engine!.list()).map((r) => r.id)).toEqual(['app']);
  });

  // At start there is no "before" in memory: a drop-in that is not valid YAML when the
  // controller starts must keep what its status files say it held, not read as "deleted".
  t('a drop-in corrupted while stopped (and the mount gone): restart keeps the rootfs and the container\'s writes; problems say why', async () => {
    await writeFile(join(dropins, 'image.yaml'), image(`oci://${dir}/layout:v1`));
    const app = join(dropins, 'app.yaml');
    await writeFile(app, rootfs('app'));
    await start();
    await until('RootFS', 'app', 'Mounted');
    const root = join(store, 'images', 'app', 'rootfs');
    const uid = (await files.readObject('RootFS', 'default', 'app'))?.metadata.uid;
    expect(uid).toMatch(/\S/);
    await writeFile(join(root, 'container-data'), 'written by the container\n');
    await stop();
    umount(root, MNT_DETACH);
    await writeFile(app, 'apiVersion: groot.dev/v1alpha1\nkind: RootFS\nmetadata: {name: app\nspec: {image: base}\n');
    await start();
    await waitFor('remounted', () => mounted(root), 10_000);
    await ctl!.whenIdle();
    await sleep(1000); // a rescan or two: still nothing removed
    await ctl!.whenIdle();
    expect(await mounted(root)).toBe(true);
    expect(await readFile(join(root, 'container-data'), 'utf8')).toBe('written by the container\n');
    expect((await engine!.list()).map((r) => r.id)).toEqual(['app']);
    expect((await new Records(store).getRootfs('app'))?.uid).toBe(uid);
    const st = await files.readObject('RootFS', 'default', 'app');
    expect(st?.metadata.uid).toBe(uid);
    expect(getCondition((st?.status as RootFSStatus | undefined)?.conditions, 'Ready')?.status).toBe('True');
    const problems = (await files.readProblems())?.problems ?? [];
    expect(problems).toEqual([
      { where: app, message: expect.stringMatching(/^not valid YAML \(document 1, line \d+, column \d+\)/) },
      { where: app, object: 'RootFS default/app', message: expect.stringMatching(/kept as last known/) },
    ]);

    // Fixed: no problem left, same root filesystem. Deleted: removed.
    await writeFile(app, rootfs('app'));
    await waitFor('problems cleared', async () => ((await files.readProblems())?.problems ?? []).length === 0, 5000);
    expect(await readFile(join(root, 'container-data'), 'utf8')).toBe('written by the container\n');
    await unlink(app);
    await waitFor('app gone', async () => !(await mounted(root)) && !existsSync(join(store, 'images', 'app')), 10_000);
  });

  t('a drop-in directory that vanishes removes nothing', async () => {
    await writeFile(join(dropins, 'image.yaml'), image(`oci://${dir}/layout:v1`) + '---\n' + rootfs('app'));
    await start();
    await until('RootFS', 'app', 'Mounted');
    await rm(dropins, { recursive: true });
    await sleep(1500);
    expect(await mounted(join(store, 'images', 'app', 'rootfs'))).toBe(true);
    expect((await files.readProblems())?.problems[0]?.message).toMatch(/drop-in directory cannot be read/);
  });
});
