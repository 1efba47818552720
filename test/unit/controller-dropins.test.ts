import { mkdtemp, mkdir, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller } from '../../src/controller/controller.js';
import { DropinSource } from '../../src/controller/source-dropins.js';
import { StatusFiles } from '../../src/controller/status-files.js';
import { getCondition, type RootFSStatus, type ImageStatus } from '../../src/api/index.js';
import { FakeEngine } from '../helpers/controller-fake-engine.js';
import { waitFor } from '../helpers/controller-wait.js';

const IMAGE = (source: string) => `apiVersion: groot.dev/v1alpha1
kind: Image
metadata: {name: base}
spec: {source: "${source}"}
`;
const ROOTFS = (name: string, extra = '') => `apiVersion: groot.dev/v1alpha1
kind: RootFS
metadata: {name: ${name}}
spec: {image: base${extra}}
`;

describe('controller over drop-ins (fake engine)', () => {
  let dir: string; let dropins: string; let store: string;
  let engine: FakeEngine; let ctl: Controller; let files: StatusFiles;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'groot-ctl-'));
    dropins = join(dir, 'dropins'); store = join(dir, 'store');
    await mkdir(dropins); await mkdir(store);
    engine = new FakeEngine(store);
    engine.images.set('oci:///img:v1', { digest: 'sha256:' + 'a'.repeat(64), layers: 2, size: 4000 });
    engine.images.set('oci:///img:v2', { digest: 'sha256:' + 'b'.repeat(64), layers: 3, size: 5000 });
    files = new StatusFiles(store);
  });

  afterEach(async () => {
    await ctl?.stop(1000);
    await rm(dir, { recursive: true, force: true });
  });

  const start = async () => {
    ctl = new Controller({ engine, source: new DropinSource({ dir: dropins, node: 'n1', storePath: store, rescanMs: 200 }), settings: { usageMs: 100, progressMs: 0 }, queue: { baseDelayMs: 10, maxDelayMs: 100 } });
    await ctl.start();
  };
  const status = async <T>(kind: 'Image' | 'RootFS', name: string) => (await files.readObject(kind, 'default', name))?.status as T | undefined;
  const ready = async (kind: 'Image' | 'RootFS', name: string) => getCondition((await status<RootFSStatus>(kind, name))?.conditions, 'Ready');

  test('Image then RootFS reach Ready; status files carry digest, path, usage; deleting the file removes the rootfs', async () => {
    await writeFile(join(dropins, 'a.yaml'), IMAGE('oci:///img:v1') + '---\n' + ROOTFS('app', ', diskLimitBytes: 1000'));
    await start();
    await waitFor('rootfs ready', async () => (await ready('RootFS', 'app'))?.status === 'True');
    const img = await status<ImageStatus>('Image', 'base');
    expect(img?.digest).toBe('sha256:' + 'a'.repeat(64));
    expect(img?.layers).toBe(2);
    expect(getCondition(img?.conditions, 'Ready')?.reason).toBe('Pulled');
    const rs = await status<RootFSStatus>('RootFS', 'app');
    expect(rs?.path).toBe(`${store}/images/app/rootfs`);
    expect(rs?.usage?.totalBytesUsed).toBe(1000);
    expect(rs?.conditions?.[0]?.type).toBe('Ready');
    expect(getCondition(rs?.conditions, 'QuotaApplied')?.status).toBe('True');
    expect(engine.pins.get('controller_default_base')).toBe('sha256:' + 'a'.repeat(64));

    await unlink(join(dropins, 'a.yaml'));
    await waitFor('rootfs deleted', () => !engine.rootfs.has('app'), 3000);
    await waitFor('unpinned', () => !engine.pins.has('controller_default_base'));
    await waitFor('status file removed', async () => (await files.readObject('RootFS', 'default', 'app')) === undefined);
  });
});
