import { DigestMismatchError, InvalidImageError } from '../../src/errors/index.js';
import { MT, buildResolvedImage, chainIDs, digestOf, parseConfig, parseManifest, type ImageManifest } from '../../src/image/index.js';

const diff = (c: string) => 'sha256:' + c.repeat(64);
const configJson = (over: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({
  architecture: 'amd64', os: 'linux',
  config: { Env: ['PATH=/bin', 'A=b'], User: 'vcap', WorkingDir: '/home/vcap' },
  rootfs: { type: 'layers', diff_ids: [diff('1'), diff('2')] },
  ...over,
}));

function manifestFor(config: Buffer, layers = 2): ImageManifest {
  return parseManifest(JSON.stringify({
    schemaVersion: 2, mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: digestOf(config), size: config.length },
    layers: Array.from({ length: layers }, (_, i) => ({ mediaType: MT.ociLayerGzip, digest: diff(String.fromCharCode(97 + i)), size: 100 + i })),
  })) as ImageManifest;
}

test('parseConfig reads env, user, cwd, diff IDs and platform', () => {
  const c = parseConfig(configJson());
  expect(c.env).toEqual(['PATH=/bin', 'A=b']);
  expect(c.user).toBe('vcap');
  expect(c.workingDir).toBe('/home/vcap');
  expect(c.diffIDs).toEqual([diff('1'), diff('2')]);
  expect(c.platform).toEqual({ os: 'linux', architecture: 'amd64' });
  expect(c.raw.architecture).toBe('amd64');
});

test('a config without a config section (umoci new, scratch) means empty env, root, no cwd', () => {
  for (const config of [undefined, null, {}]) {
    const c = parseConfig(configJson({ config }));
    expect([c.env, c.user, c.workingDir]).toEqual([[], '', '']);
  }
  expect(parseConfig(configJson({ config: { Env: null } })).env).toEqual([]);
});

test.each([
  [{ rootfs: undefined }, /has no rootfs section/],
  [{ rootfs: { type: 'zfs', diff_ids: [] } }, /rootfs.type is "zfs"/],
  [{ rootfs: { type: 'layers', diff_ids: 'x' } }, /diff_ids is not an array/],
  [{ rootfs: { type: 'layers', diff_ids: ['sha256:nothex'] } }, /rootfs.diff_ids\[0\] "sha256:nothex"/],
  [{ config: { Env: 'PATH=/bin' } }, /config.Env is not an array of strings/],
  [{ config: { Env: [1] } }, /config.Env is not an array of strings/],
  [{ config: { User: 0 } }, /config.User is not a string/],
  [{ config: { WorkingDir: [] } }, /config.WorkingDir is not a string/],
  [{ config: 'x' }, /"config" is not an object/],
])('parseConfig rejects %j', (over, msg) => {
  expect(() => parseConfig(configJson(over), 'oci:///img:1')).toThrow(InvalidImageError);
  expect(() => parseConfig(configJson(over), 'oci:///img:1')).toThrow(msg);
  expect(() => parseConfig(configJson(over), 'oci:///img:1')).toThrow(/^oci:\/\/\/img:1: image config /);
});

test('parseConfig rejects non-JSON', () => {
  expect(() => parseConfig('{nope', 'oci:///img:1')).toThrow(/oci:\/\/\/img:1: image config is not valid JSON/);
});

test('buildResolvedImage computes chain IDs and carries sizes, media types and config', () => {
  const config = configJson();
  const img = buildResolvedImage('oci:///img:1', diff('f'), manifestFor(config), config);
  expect(img.source).toBe('oci:///img:1');
  expect(img.digest).toBe(diff('f'));
  expect(img.config).toEqual({ env: ['PATH=/bin', 'A=b'], user: 'vcap', workingDir: '/home/vcap', raw: JSON.parse(config.toString()) });
  const chains = chainIDs([diff('1'), diff('2')]);
  expect(img.layers).toEqual([
    { digest: diff('a'), diffID: diff('1'), size: 100, mediaType: MT.ociLayerGzip, chainID: chains[0], verifiable: true },
    { digest: diff('b'), diffID: diff('2'), size: 101, mediaType: MT.ociLayerGzip, chainID: chains[1], verifiable: true },
  ]);
  expect(img.compressedSize).toBe(201);
});

test('buildResolvedImage refuses a layer count mismatch and config bytes that do not match the manifest', () => {
  const config = configJson();
  expect(() => buildResolvedImage('oci:///img:1', diff('f'), manifestFor(config, 3), config)).toThrow('oci:///img:1: manifest lists 3 layers but its config has 2 rootfs.diff_ids');
  const other = configJson({ os: 'linux ' });
  expect(() => buildResolvedImage('oci:///img:1', diff('f'), manifestFor(config), other)).toThrow(DigestMismatchError);
  const sameSize = Buffer.from(config.toString().replace('vcap', 'vcaq'));
  expect(() => buildResolvedImage('oci:///img:1', diff('f'), manifestFor(config), sameSize)).toThrow(/oci:\/\/\/img:1: config sha256:[0-9a-f]{64}: digest mismatch/);
});
