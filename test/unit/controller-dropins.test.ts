import { mkdtemp, mkdir, open, rm, writeFile, unlink, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller } from '../../src/controller/controller.js';
import { DropinSource } from '../../src/controller/source-dropins.js';
import { StatusFiles } from '../../src/controller/status-files.js';
import { getObjects } from '../../src/cli/get.js';
import { describe as describeCmd } from '../../src/cli/describe.js';
import { configureLogging } from '../../src/log/index.js';
import { getCondition, type RootFSStatus, type ImageStatus } from '../../src/api/index.js';
import { FakeEngine } from '../helpers/controller-fake-engine.js';
import { waitFor, sleep } from '../helpers/controller-wait.js';

const IMAGE = (source: string, name = 'base') => `apiVersion: groot.dev/v1alpha1
kind: Image
metadata: {name: ${name}}
spec: {source: "${source}"}
`;
const ROOTFS = (name: string, extra = '') => `apiVersion: groot.dev/v1alpha1
kind: RootFS
metadata: {name: ${name}}
spec: {image: base${extra}}
`;

describe('controller over drop-ins (fake engine)', () => {
  let dir: string; let dropins: string; let store: string; let logFile: string;
  let engine: FakeEngine; let ctl: Controller; let files: StatusFiles;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'groot-ctl-'));
    dropins = join(dir, 'dropins'); store = join(dir, 'store'); logFile = join(dir, 'log');
    await mkdir(dropins); await mkdir(store);
    configureLogging({ level: 'warn', file: logFile });
    engine = new FakeEngine(store);
    engine.images.set('oci:///img:v1', { digest: 'sha256:' + 'a'.repeat(64), layers: 2, size: 4000 });
    engine.images.set(`oci://${dir}/layouts/img:v1`, { digest: 'sha256:' + 'c'.repeat(64), layers: 1, size: 10 });
    files = new StatusFiles(store);
  });

  afterEach(async () => {
    await ctl?.stop(1000);
    configureLogging({ level: 'warn' });
    await rm(dir, { recursive: true, force: true });
  });

  const start = async () => {
    ctl = new Controller({ engine, source: new DropinSource({ dir: dropins, node: 'n1', storePath: store, rescanMs: 200 }), settings: { usageMs: 100, progressMs: 0 }, queue: { baseDelayMs: 10, maxDelayMs: 100 } });
    await ctl.start();
    await waitFor('ready', () => ctl.ready());
  };
  const status = async <T>(kind: 'Image' | 'RootFS', name: string) => (await files.readObject(kind, 'default', name))?.status as T | undefined;
  const ready = async (kind: 'Image' | 'RootFS', name: string) => getCondition((await status<RootFSStatus>(kind, name))?.conditions, 'Ready');
  const problems = async () => (await files.readProblems())?.problems ?? [];

  test('Image then RootFS reach Ready from one multi-document file; status files carry digest, path, usage; deleting the file removes the rootfs', async () => {
    await writeFile(join(dropins, 'a.yaml'), IMAGE('oci:///img:v1') + '---\n' + ROOTFS('app', ', diskLimitBytes: 1000'));
    await start();
    await waitFor('rootfs ready', async () => (await ready('RootFS', 'app'))?.status === 'True');
    const img = await status<ImageStatus>('Image', 'base');
    expect(img?.digest).toBe('sha256:' + 'a'.repeat(64));
    expect(getCondition(img?.conditions, 'Ready')?.reason).toBe('Pulled');
    const rs = await waitFor('usage', async () => { const x = await status<RootFSStatus>('RootFS', 'app'); return x?.usage ? x : undefined; });
    expect(rs?.path).toBe(`${store}/images/app/rootfs`);
    expect(rs?.usage?.totalBytesUsed).toBe(1000);

    await unlink(join(dropins, 'a.yaml'));
    await waitFor('rootfs deleted', () => !engine.rootfs.has('app'), 3000);
    await waitFor('unpinned', () => !engine.pins.has('controller_default_base'));
    await waitFor('status file removed', async () => (await files.readObject('RootFS', 'default', 'app')) === undefined);
  });

  test('a file caught half written (truncated, then written in two parts) deletes nothing: it is read once it settled', async () => {
    const full = IMAGE('oci:///img:v1') + '---\n' + ROOTFS('app') + '---\n' + ROOTFS('keep');
    await writeFile(join(dropins, 'a.yaml'), full);
    await start();
    await waitFor('both ready', async () => (await ready('RootFS', 'app'))?.status === 'True' && (await ready('RootFS', 'keep'))?.status === 'True');
    const deletesBefore = engine.count('delete');
    // A slow writer: the first two documents, a pause longer than the event debounce, the rest.
    const fh = await open(join(dropins, 'a.yaml'), 'w');
    const cut = full.indexOf('---', full.indexOf('name: app'));
    await fh.write(full.slice(0, cut));
    await sleep(80);
    await fh.write(full.slice(cut));
    await fh.close();
    await sleep(800);
    expect(engine.count('delete')).toBe(deletesBefore);
    expect((await ready('RootFS', 'keep'))?.status).toBe('True');
  });

  test('a file that is not YAML is reported and keeps what it held; other files carry on; fixing it heals', async () => {
    await writeFile(join(dropins, 'img.yaml'), IMAGE('oci:///img:v1'));
    await writeFile(join(dropins, 'app.yaml'), ROOTFS('app'));
    await start();
    await waitFor('app ready', async () => (await ready('RootFS', 'app'))?.status === 'True');
    // An editor saves half a file:
    await writeFile(join(dropins, 'app.yaml'), 'apiVersion: groot.dev/v1alpha1\nkind: RootFS\nmetadata: {name: app\nspec: [\n');
    await writeFile(join(dropins, 'other.yml'), ROOTFS('other'));
    await waitFor('other ready', async () => (await ready('RootFS', 'other'))?.status === 'True');
    const p = await problems();
    expect(p.length).toBeGreaterThan(0);
    for (const x of p) expect(x).toEqual({ where: join(dropins, 'app.yaml'), message: expect.stringMatching(/^not valid YAML \(document 1, line \d+, column \d+\): \S/) });
    await sleep(500);
    expect(engine.rootfs.has('app')).toBe(true); // kept, not deleted
    expect(engine.count('delete')).toBe(0);
    const log = await readFile(logFile, 'utf8');
    expect(log).toMatch(/app\.yaml/);
    await writeFile(join(dropins, 'app.yaml'), ROOTFS('app'));
    await waitFor('problems cleared', async () => (await problems()).length === 0);
    await waitFor('usage of both', async () => (await status<RootFSStatus>('RootFS', 'app'))?.usage && (await status<RootFSStatus>('RootFS', 'other'))?.usage);
    const out = await getObjects(store, 'rootfs', undefined, {});
    expect(out.stderr).toBe('');
    expect(out.stdout.split('\n')[0]).toMatch(/^NAME\s+READY\s+IMAGE\s+DIGEST\s+USAGE\s+AGE$/);
    expect(out.stdout).toMatch(/\napp\s+True\s+base\s+sha256:a{64}\s+1000\s+\S+\nother\s+True/);
  });

  test('an object that fails validation is reported in its status and the log naming file, object and field; it affects nothing else', async () => {
    await writeFile(join(dropins, 'img.yaml'), IMAGE('oci:///img:v1'));
    await writeFile(join(dropins, 'bad.yaml'), ROOTFS('bad', ', diskLimitBytes: -5') + '---\n' + ROOTFS('good'));
    await start();
    await waitFor('good ready', async () => (await ready('RootFS', 'good'))?.status === 'True');
    const c = await waitFor('bad reported', async () => { const r = await ready('RootFS', 'bad'); return r?.reason === 'InvalidSpec' ? r : undefined; });
    expect(c.message).toBe(`RootFS default/bad (file ${join(dropins, 'bad.yaml')}): spec.diskLimitBytes: must be >= 0`);
    expect(engine.rootfs.has('bad')).toBe(false);
    const log = await waitFor('log line', async () => { const l = await readFile(logFile, 'utf8'); return l.includes('spec.diskLimitBytes') ? l : undefined; });
    const line = JSON.parse(log.split('\n').find((l) => l.includes('spec.diskLimitBytes'))!);
    expect(line).toMatchObject({ file: join(dropins, 'bad.yaml'), object: 'default/bad', fields: ['spec.diskLimitBytes'] });
    const described = await describeCmd(store, 'rootfs', 'bad');
    expect(described.stdout).toMatch(/Reason:\s+InvalidSpec/);
    await writeFile(join(dropins, 'bad.yaml'), ROOTFS('bad', ', diskLimitBytes: 5') + '---\n' + ROOTFS('good'));
    await waitFor('bad healed', async () => (await ready('RootFS', 'bad'))?.status === 'True');
    expect((await status<RootFSStatus>('RootFS', 'bad'))?.observedGeneration).toBe(2);
  });

  test('an unnamed document and a duplicate definition are reported as file problems', async () => {
    await writeFile(join(dropins, 'a.yaml'), IMAGE('oci:///img:v1') + '---\napiVersion: groot.dev/v1alpha1\nkind: RootFS\nmetadata: {}\nspec: {image: base}\n');
    await writeFile(join(dropins, 'b.yaml'), IMAGE('oci:///img:v2'));
    await writeFile(join(dropins, '.hidden.yaml'), 'garbage: [');
    await writeFile(join(dropins, 'notes.txt'), 'not yaml at all: [');
    await start();
    await waitFor('image ready', async () => (await ready('Image', 'base'))?.status === 'True');
    const p = await problems();
    expect(p).toEqual(expect.arrayContaining([
      expect.objectContaining({ where: `${join(dropins, 'a.yaml')} (document 2)`, field: 'metadata.name' }),
      expect.objectContaining({ where: join(dropins, 'b.yaml'), object: 'Image default/base', message: `defined again: already defined in ${join(dropins, 'a.yaml')}; this copy is ignored` }),
    ]));
    expect(p.length).toBe(2);
    expect((await status<ImageStatus>('Image', 'base'))?.digest).toBe('sha256:' + 'a'.repeat(64)); // the first file wins
    const out = await getObjects(store, 'images', undefined, {});
    expect(out.stderr).toMatch(/^Warning: .*a\.yaml \(document 2\)/m);
    expect(out.stderr).toContain(`Warning: ${join(dropins, 'b.yaml')}: Image default/base: defined again: already defined in`);
  });

  test('relative sources resolve against the drop-in file; objects for other nodes are ignored', async () => {
    await mkdir(join(dir, 'layouts'));
    await writeFile(join(dropins, 'img.yaml'), IMAGE('oci:../layouts/img:v1') + `---
apiVersion: groot.dev/v1alpha1
kind: Image
metadata: {name: elsewhere, labels: {groot.dev/node: n2}}
spec: {source: "oci:///img:v1"}
`);
    await start();
    await waitFor('ready', async () => (await ready('Image', 'base'))?.status === 'True');
    expect(engine.calls.find((c) => c.op === 'pull')?.arg).toBe(`oci://${dir}/layouts/img:v1`);
    expect(await files.readObject('Image', 'default', 'elsewhere')).toBeUndefined();
    expect(engine.calls.filter((c) => c.op === 'pull').length).toBe(1);
  });

  test('status files of objects deleted while the controller was down are removed at start', async () => {
    await writeFile(join(dropins, 'a.yaml'), IMAGE('oci:///img:v1') + '---\n' + ROOTFS('bad', ', diskLimitBytes: -1'));
    await start();
    await waitFor('bad reported', async () => (await ready('RootFS', 'bad'))?.reason === 'InvalidSpec');
    await ctl.stop(500);
    await writeFile(join(dropins, 'a.yaml'), IMAGE('oci:///img:v1'));
    await start();
    await waitFor('stale status file removed', async () => (await files.readObject('RootFS', 'default', 'bad')) === undefined);
    expect(await files.readObject('Image', 'default', 'base')).toBeDefined();
  });

  test('get -o json/yaml and describe print objects with status', async () => {
    await writeFile(join(dropins, 'a.yaml'), IMAGE('oci:///img:v1') + '---\n' + ROOTFS('app'));
    await start();
    await waitFor('ready', async () => (await ready('RootFS', 'app'))?.status === 'True');
    const list = JSON.parse((await getObjects(store, 'rootfs', undefined, { output: 'json' })).stdout);
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List', items: [{ kind: 'RootFS', metadata: { name: 'app' }, status: { path: `${store}/images/app/rootfs` } }] });
    const one = (await getObjects(store, 'image', 'base', { output: 'yaml' })).stdout;
    expect(one).toMatch(/^apiVersion: groot.dev\/v1alpha1\nkind: Image\n/);
    expect(one).toMatch(/digest: sha256:a{64}/);
    const missing = await getObjects(store, 'image', 'nope', {});
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/images.groot.dev "nope" not found/);
    const d = (await describeCmd(store, 'image', 'base')).stdout;
    expect(d).toMatch(/^Name:\s+base\nNamespace:\s+default\n/);
    expect(d).toMatch(/Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message\n[\s\S]*Normal\s+Pulled\s+\S+\s+groot\s+Successfully pulled image/);
  });
});
