import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_STORE, defaultConfig, loadConfigFile, parseConfig } from '../../src/cli/config.js';
import { resolveCreateSettings, resolveSourceSettings } from '../../src/cli/create-options.js';

const FULL = `
store: /var/vcap/data/grootfs/store/unprivileged
log_level: debug
log_file: /var/log/groot.log
tardis_bin: /var/vcap/packages/grootfs/bin/tardis
newuidmap_bin: /usr/bin/newuidmap
newgidmap_bin: /usr/bin/newgidmap
metron_endpoint: 127.0.0.1:3457
create:
  disk_limit_size_bytes: 1073741824
  exclude_image_from_quota: true
  skip_layer_validation: true
  with_clean: true
  without_mount: true
  insecure_registries: [reg.local:5000, other.local]
  remote_layer_client_certificates_path: /certs
clean:
  threshold_bytes: 5000
init:
  store_size_bytes: 10737418240
  with_direct_io: true
  store_fs: btrfs
`;

describe('grootfs config file', () => {
  test('every GrootFS key lands in its field', () => {
    const { config, unknownKeys } = parseConfig(FULL, 'full.yml');
    expect(unknownKeys).toEqual([]);
    expect(config).toEqual({
      store: '/var/vcap/data/grootfs/store/unprivileged', logLevel: 'debug', logFile: '/var/log/groot.log',
      tardisBin: '/var/vcap/packages/grootfs/bin/tardis', newuidmapBin: '/usr/bin/newuidmap', newgidmapBin: '/usr/bin/newgidmap',
      metronEndpoint: '127.0.0.1:3457',
      create: { diskLimitSizeBytes: 1073741824, excludeImageFromQuota: true, skipLayerValidation: true, withClean: true,
        withoutMount: true, insecureRegistries: ['reg.local:5000', 'other.local'], remoteLayerClientCertificatesPath: '/certs',
        registryMirrors: {}, layerConcurrency: 0 },
      clean: { thresholdBytes: 5000 },
      init: { storeSizeBytes: 10737418240, withDirectIO: true, storeFs: 'btrfs' },
    });
  });

  test('an empty file or empty sections give the defaults', () => {
    expect(parseConfig('', 'e.yml').config).toEqual(defaultConfig());
    expect(parseConfig('create:\nclean:\n', 'e.yml').config).toEqual(defaultConfig());
    expect(defaultConfig().store).toBe(DEFAULT_STORE);
  });

  test('unknown keys are tolerated and reported with their path', () => {
    const { config, unknownKeys } = parseConfig('store: /s\ncolour: blue\ncreate:\n  with_clean: true\n  turbo: 3\n', 'u.yml');
    expect(config.store).toBe('/s');
    expect(config.create.withClean).toBe(true);
    expect(unknownKeys).toEqual(['colour', 'create.turbo']);
  });

  test('the controller section of a shared config file is not an unknown key', () => {
    const { unknownKeys } = parseConfig('store: /s\ncontroller:\n  node: cell-1\n  dropins: /etc/groot/dropins\n', 'shared.yml');
    expect(unknownKeys).toEqual([]);
  });

  test('malformed YAML is a clear error naming the file and the line', () => {
    expect(() => parseConfig('store: /s\ncreate: [unclosed\n', '/etc/groot.yml')).toThrow(/invalid config file \/etc\/groot.yml: malformed YAML \(line \d+/);
    expect(() => parseConfig('a: 1\na: 2\n', 'dup.yml')).toThrow(/invalid config file dup.yml: malformed YAML/);
  });

  test('wrong types name the key and the value', () => {
    expect(() => parseConfig('create:\n  disk_limit_size_bytes: lots\n', 'c.yml')).toThrow('invalid config file c.yml: create.disk_limit_size_bytes must be a whole number of bytes, not "lots"');
    expect(() => parseConfig('create:\n  with_clean: "yes"\n', 'c.yml')).toThrow('create.with_clean must be true or false, not "yes"');
    expect(() => parseConfig('clean:\n  threshold_bytes: -1\n', 'c.yml')).toThrow('clean.threshold_bytes cannot be negative (-1)');
    expect(() => parseConfig('create:\n  insecure_registries: reg.local\n', 'c.yml')).toThrow('create.insecure_registries must be a list of strings');
    expect(() => parseConfig('create: 3\n', 'c.yml')).toThrow('create must be a mapping, not 3');
    expect(() => parseConfig('- a\n- b\n', 'c.yml')).toThrow('the top level must be a mapping of keys, not a list');
    expect(() => parseConfig('store: 12\n', 'c.yml')).toThrow('store must be a string, not 12');
    expect(() => parseConfig('init:\n  store_fs: zfs\n', 'c.yml')).toThrow(/init.store_fs.*zfs.*xfs, btrfs/);
    expect(() => parseConfig('init:\n  store_size_bytes: 1.5\n', 'c.yml')).toThrow('init.store_size_bytes must be a whole number of bytes, not 1.5');
  });

  describe('files', () => {
    let dir: string;
    beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'groot-cfg-')); });
    afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

    test('a missing file names the path', async () => {
      await expect(loadConfigFile(join(dir, 'nope.yml'))).rejects.toThrow(`invalid config path ${join(dir, 'nope.yml')}: no such file`);
    });
    test('a file is read and parsed', async () => {
      await writeFile(join(dir, 'c.yml'), 'store: /x\nclean:\n  threshold_bytes: 7\n');
      const { config } = await loadConfigFile(join(dir, 'c.yml'));
      expect(config.store).toBe('/x');
      expect(config.clean.thresholdBytes).toBe(7);
    });
  });
});

describe('create flags over the config file', () => {
  const fromFile = () => parseConfig(FULL, 'full.yml').config;

  test('without flags the config file decides', () => {
    const s = resolveCreateSettings(fromFile(), {}, 'oci:///img:latest');
    expect(s).toEqual({ diskLimitBytes: 1073741824, excludeImageFromQuota: true, mount: false, clean: true, thresholdBytes: 5000,
      skipLayerValidation: true, insecureRegistries: ['reg.local:5000', 'other.local'] });
  });

  test('without flags or file: the defaults (mount, no clean, no limit)', () => {
    expect(resolveCreateSettings(defaultConfig(), {}, '/rootfs.tar')).toEqual({ diskLimitBytes: 0, excludeImageFromQuota: false,
      mount: true, clean: false, thresholdBytes: 0, skipLayerValidation: false, insecureRegistries: [] });
  });

  test('flags win over the file', () => {
    const s = resolveCreateSettings(fromFile(), { diskLimitSizeBytes: '42', withoutClean: true, withMount: true, thresholdBytes: '9',
      insecureRegistry: ['flag.local'] }, 'oci:///img');
    expect(s.diskLimitBytes).toBe(42);
    expect(s.clean).toBe(false);
    expect(s.mount).toBe(true);
    expect(s.thresholdBytes).toBe(9);
    expect(s.insecureRegistries).toEqual(['flag.local']);
  });

  test('boolean flags turn on what the file leaves off', () => {
    const s = resolveCreateSettings(defaultConfig(), { excludeImageFromQuota: true, withClean: true, withoutMount: true, skipLayerValidation: true }, 'oci:/rel/img');
    expect(s).toMatchObject({ excludeImageFromQuota: true, clean: true, mount: false, skipLayerValidation: true });
  });

  test('--skip-layer-validation only applies to oci: sources, as in GrootFS', () => {
    expect(resolveCreateSettings(defaultConfig(), { skipLayerValidation: true }, 'docker:///busybox').skipLayerValidation).toBe(false);
    expect(resolveCreateSettings(defaultConfig(), { skipLayerValidation: true }, '/rootfs.tar').skipLayerValidation).toBe(false);
  });

  test('contradicting flag pairs are refused', () => {
    expect(() => resolveCreateSettings(defaultConfig(), { withClean: true, withoutClean: true }, 'x')).toThrow('with-clean and without-clean cannot be used together');
    expect(() => resolveCreateSettings(defaultConfig(), { withMount: true, withoutMount: true }, 'x')).toThrow('with-mount and without-mount cannot be used together');
  });

  test('bad numbers name the flag', () => {
    expect(() => resolveCreateSettings(defaultConfig(), { diskLimitSizeBytes: '-5' }, 'x')).toThrow('invalid argument: --disk-limit-size-bytes cannot be negative (-5)');
    expect(() => resolveCreateSettings(defaultConfig(), { thresholdBytes: '1e9' }, 'x')).toThrow('--threshold-bytes must be a whole number of bytes, got "1e9"');
  });

  test('credentials: username with password; password alone is refused', () => {
    expect(resolveSourceSettings(defaultConfig(), { username: 'u', password: 'p' }, 'docker:///x').credentials).toEqual({ username: 'u', password: 'p' });
    expect(resolveSourceSettings(defaultConfig(), {}, 'docker:///x').credentials).toBeUndefined();
    expect(() => resolveSourceSettings(defaultConfig(), { password: 'p' }, 'docker:///x')).toThrow('--password needs --username');
  });

  test('--platform is parsed', () => {
    expect(resolveSourceSettings(defaultConfig(), { platform: 'linux/arm64/v8' }, 'x').platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(() => resolveSourceSettings(defaultConfig(), { platform: 'linux' }, 'x')).toThrow('--platform "linux" is not os/architecture[/variant]');
  });
});

describe('registry settings (groot keys): mirrors, credentials file, layer concurrency', () => {
  const file = `
create:
  registry_mirrors:
    docker.io: [https://mirror.example.com/, "http://10.0.0.5:5000/v2-cache"]
    quay.io: https://quay-mirror.example.com
  credentials_file: /etc/groot/auth.json
  layer_concurrency: 8
`;

  test('the config file keys reach the source settings', () => {
    const { config, unknownKeys } = parseConfig(file, 'r.yml');
    expect(unknownKeys).toEqual([]);
    expect(resolveSourceSettings(config, {}, 'docker:///library/busybox')).toEqual({
      insecureRegistries: [], skipLayerValidation: false,
      mirrors: { 'docker.io': ['https://mirror.example.com', 'http://10.0.0.5:5000/v2-cache'], 'quay.io': ['https://quay-mirror.example.com'] },
      credentialsFile: '/etc/groot/auth.json', concurrency: 8,
    });
  });

  test('flags win over the file; several mirrors for one host keep their order', () => {
    const { config } = parseConfig(file, 'r.yml');
    const s = resolveSourceSettings(config, {
      registryMirror: ['docker.io=https://a.example', 'docker.io=https://b.example', 'ghcr.io=http://127.0.0.1:5001'],
      credentialsFile: '/tmp/other.json', layerConcurrency: '2',
    }, 'docker:///x');
    expect(s.mirrors).toEqual({ 'docker.io': ['https://a.example', 'https://b.example'], 'ghcr.io': ['http://127.0.0.1:5001'] });
    expect(s.credentialsFile).toBe('/tmp/other.json');
    expect(s.concurrency).toBe(2);
  });

  test('defaults leave the engine its own (4 layers, no mirrors, no file)', () => {
    const s = resolveSourceSettings(defaultConfig(), {}, 'docker:///x');
    expect(s).toEqual({ insecureRegistries: [], skipLayerValidation: false });
  });

  test.each([
    ['create:\n  registry_mirrors: [https://m]\n', 'create.registry_mirrors must be a mapping of registry host to a list of mirror URLs'],
    ['create:\n  registry_mirrors: {docker.io: [1]}\n', 'create.registry_mirrors.docker.io must be a list of mirror URLs'],
    ['create:\n  registry_mirrors: {docker.io: [ftp://m]}\n', 'must be an http:// or https:// URL'],
    ['create:\n  registry_mirrors: {docker.io: ["not a url"]}\n', 'is not a URL'],
    ['create:\n  registry_mirrors: {docker.io: ["https://u:p@m"]}\n', 'mirror URLs carry no credentials'],
    ['create:\n  layer_concurrency: -1\n', 'create.layer_concurrency cannot be negative'],
  ])('bad config %j is refused naming the key', (text, msg) => {
    expect(() => parseConfig(text, 'bad.yml')).toThrow(msg);
  });

  test.each([
    [{ registryMirror: ['https://no-host'] }, 'expected HOST=URL'],
    [{ registryMirror: ['docker.io=nope'] }, 'is not a URL'],
    [{ layerConcurrency: '0' }, 'expected a whole number of layers, 1 or more'],
    [{ layerConcurrency: 'x' }, 'expected a whole number of layers, 1 or more'],
  ])('bad flags %j are refused', (flags, msg) => {
    expect(() => resolveSourceSettings(defaultConfig(), flags, 'docker:///x')).toThrow(msg);
  });
});
