import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { applyConfigFile, defaultControllerSettings } from '../../src/controller/config.js';
import { parseAddress } from '../../src/controller/http.js';
import { controllerSettings, EXAMPLE_DROPINS } from '../../src/cli/controller.js';
import { ensureGlobalOptions } from '../../src/cli/global-options.js';

describe('controller settings', () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'groot-cfg-')); });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const settingsFor = async (argv: string[], flags: Record<string, unknown> = {}) => {
    const program = new Command('groot');
    ensureGlobalOptions(program);
    let got: Awaited<ReturnType<typeof controllerSettings>> | undefined;
    program.command('controller').allowUnknownOption().action(async (_o, cmd: Command) => { got = await controllerSettings(cmd, flags); });
    await program.parseAsync(['node', 'groot', ...argv, 'controller']);
    return got!;
  };

  test('config file controller: section, GrootFS clean.threshold_bytes as the GC default, flags win', async () => {
    const cfg = join(dir, 'config.yml');
    await writeFile(cfg, `store: ${dir}/store\nclean:\n  threshold_bytes: 1000\ncontroller:\n  dropins: ${dir}/d\n  node: cell-7\n  metrics_address: 0.0.0.0:9000\n  resync_period_seconds: 30\n  pull_concurrency: 5\n`);
    const a = await settingsFor(['--config', cfg]);
    expect(a.store).toBe(`${dir}/store`);
    expect(a.settings).toMatchObject({ dropins: `${dir}/d`, node: 'cell-7', metricsAddress: '0.0.0.0:9000', resyncSeconds: 30, pullConcurrency: 5, gcThresholdBytes: 1000, kube: false });
    const b = await settingsFor(['--config', cfg, '--store', `${dir}/other`], { node: 'cell-8', gcThresholdBytes: '5', dropins: 'rel' });
    expect(b.store).toBe(`${dir}/other`);
    expect(b.settings).toMatchObject({ node: 'cell-8', gcThresholdBytes: 5, dropins: join(process.cwd(), 'rel') });
  });

  test('no source given: the example drop-ins; --kubeconfig implies --kube', async () => {
    expect((await settingsFor([])).settings.dropins).toBe(EXAMPLE_DROPINS);
    const k = await settingsFor([], { kubeconfig: 'kc' });
    expect(k.settings).toMatchObject({ kube: true, kubeconfig: join(process.cwd(), 'kc') });
    expect(k.settings.dropins).toBeUndefined();
  });

  test('local_source_dirs and insecure_registries: none by default, from the file, flags win; create.insecure_registries is the default', async () => {
    expect((await settingsFor([], { kube: true })).settings).toMatchObject({ localSourceDirs: [], insecureRegistries: [] });
    const cfg = join(dir, 'config.yml');
    await writeFile(cfg, 'create:\n  insecure_registries: [cli.example:5000]\ncontroller:\n  kube: true\n');
    expect((await settingsFor(['--config', cfg])).settings).toMatchObject({ localSourceDirs: [], insecureRegistries: ['cli.example:5000'] });
    await writeFile(cfg, 'create:\n  insecure_registries: [cli.example:5000]\ncontroller:\n  kube: true\n  local_source_dirs: [/srv/images, rel]\n  insecure_registries: []\n');
    expect((await settingsFor(['--config', cfg])).settings).toMatchObject({ localSourceDirs: ['/srv/images', join(process.cwd(), 'rel')], insecureRegistries: [] });
    const f = await settingsFor(['--config', cfg], { localSourceDir: ['/a', '/b/../c'], insecureRegistry: ['x.example', 'y.example:443'] });
    expect(f.settings).toMatchObject({ localSourceDirs: ['/a', '/c'], insecureRegistries: ['x.example', 'y.example:443'] });
    await writeFile(cfg, 'controller:\n  local_source_dirs: /srv/images\n');
    await expect(applyConfigFile(defaultControllerSettings(), cfg)).rejects.toThrow(`invalid config file ${cfg}: controller.local_source_dirs must be a list of non-empty strings, got "/srv/images"`);
    await expect(settingsFor([], { kube: true, insecureRegistry: [''] })).rejects.toThrow('invalid argument: --insecure-registry must be a non-empty string, got ""');
  });

  test('registry_mirrors, layer_concurrency, credentials_file: the CLI\'s create.* as defaults, controller keys over them, flags win', async () => {
    expect((await settingsFor([], { kube: true })).settings).toMatchObject({ registryMirrors: {} });
    expect((await settingsFor([], { kube: true })).settings.layerConcurrency).toBeUndefined();
    const cfg = join(dir, 'registry.yml');
    await writeFile(cfg, 'create:\n  registry_mirrors: {docker.io: [https://cli-mirror.example/]}\n  layer_concurrency: 3\n  credentials_file: /etc/cli-auth.json\ncontroller:\n  kube: true\n');
    expect((await settingsFor(['--config', cfg])).settings).toMatchObject({ registryMirrors: { 'docker.io': ['https://cli-mirror.example'] }, layerConcurrency: 3, credentialsFile: '/etc/cli-auth.json' });
    await writeFile(cfg, 'create:\n  layer_concurrency: 3\ncontroller:\n  kube: true\n  registry_mirrors: {quay.io: https://q.example}\n  layer_concurrency: 6\n  credentials_file: /etc/ctl-auth.json\n');
    expect((await settingsFor(['--config', cfg])).settings).toMatchObject({ registryMirrors: { 'quay.io': ['https://q.example'] }, layerConcurrency: 6, credentialsFile: '/etc/ctl-auth.json' });
    const f = await settingsFor(['--config', cfg], { registryMirror: ['ghcr.io=http://127.0.0.1:5001'], layerConcurrency: '1', credentialsFile: 'rel.json' });
    expect(f.settings).toMatchObject({ registryMirrors: { 'ghcr.io': ['http://127.0.0.1:5001'] }, layerConcurrency: 1, credentialsFile: join(process.cwd(), 'rel.json') });
    await writeFile(cfg, 'controller:\n  registry_mirrors: {docker.io: [ftp://x]}\n');
    await expect(applyConfigFile(defaultControllerSettings(), cfg)).rejects.toThrow('must be an http:// or https:// URL');
    await expect(settingsFor([], { kube: true, registryMirror: ['nohost'] })).rejects.toThrow('expected HOST=URL');
    await expect(settingsFor([], { kube: true, layerConcurrency: '0' })).rejects.toThrow('--layer-concurrency must be a whole number >= 1');
  });

  test('bad values name the file and key, or the flag', async () => {
    const cfg = join(dir, 'bad.yml');
    await writeFile(cfg, 'controller:\n  pull_concurrency: 0\n');
    await expect(applyConfigFile(defaultControllerSettings(), cfg)).rejects.toThrow(`invalid config file ${cfg}: controller.pull_concurrency must be a whole number >= 1, got 0`);
    await writeFile(cfg, 'controller:\n  colour: red\n');
    await expect(applyConfigFile(defaultControllerSettings(), cfg)).rejects.toThrow(/controller\.colour is not a known key/);
    await expect(settingsFor([], { resyncPeriod: 'soon' })).rejects.toThrow(/--resync-period "soon": not a number/);
    expect(() => parseAddress('nonsense')).toThrow(/want HOST:PORT/);
    expect(parseAddress(':9476')).toEqual({ host: '0.0.0.0', port: 9476 });
    expect(parseAddress('[::1]:80')).toEqual({ host: '::1', port: 80 });
  });

  test('node name defaults to $NODE_NAME, then the host name', () => {
    const old = process.env.NODE_NAME;
    process.env.NODE_NAME = 'from-downward-api';
    try { expect(defaultControllerSettings().node).toBe('from-downward-api'); } finally { if (old === undefined) delete process.env.NODE_NAME; else process.env.NODE_NAME = old; }
  });
});
