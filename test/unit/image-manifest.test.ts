import { DigestMismatchError, InvalidImageError } from '../../src/errors/index.js';
import { MANIFEST_ACCEPT, MT, digestOf, isDigest, parseManifest, verifyBytes } from '../../src/image/index.js';

const d = (c: string) => 'sha256:' + c.repeat(64);
const cfg = { mediaType: MT.ociConfig, digest: d('c'), size: 100 };
const layer = (mt: string = MT.ociLayerGzip, c = 'a') => ({ mediaType: mt, digest: d(c), size: 10 });
const json = (o: unknown) => Buffer.from(JSON.stringify(o));
const WHERE = 'docker://reg.example/x:1';

function errorOf(f: () => unknown): Error {
  try { f(); } catch (e) { return e as Error; }
  throw new Error('expected a throw');
}

describe('parseManifest', () => {
  test('OCI image manifest', () => {
    const m = parseManifest(json({ schemaVersion: 2, mediaType: MT.ociManifest, config: cfg, layers: [layer(), layer(MT.ociLayerZstd, 'b'), layer(MT.ociLayer, 'e')], annotations: { a: 'b' } }));
    expect(m).toEqual({ kind: 'manifest', mediaType: MT.ociManifest, config: cfg, layers: [layer(), layer(MT.ociLayerZstd, 'b'), layer(MT.ociLayer, 'e')], annotations: { a: 'b' } });
  });

  test('an OCI manifest without mediaType (as umoci writes it) is recognised by structure or by the referring descriptor', () => {
    const body = json({ schemaVersion: 2, config: cfg, layers: [layer()] });
    expect(parseManifest(body).kind).toBe('manifest');
    expect(parseManifest(body, MT.ociManifest).mediaType).toBe(MT.ociManifest);
    expect(parseManifest(json({ schemaVersion: 2, manifests: [] })).kind).toBe('index');
  });

  test('Docker schema 2 manifest with Docker config and layer types', () => {
    const m = parseManifest(json({
      schemaVersion: 2, mediaType: MT.dockerManifest,
      config: { ...cfg, mediaType: MT.dockerConfig },
      layers: [layer(MT.dockerLayerGzip), layer(MT.dockerLayer, 'b')],
    }), `${MT.dockerManifest}; charset=utf-8`, WHERE);
    expect(m.kind).toBe('manifest');
    expect(m.mediaType).toBe(MT.dockerManifest);
    if (m.kind === 'manifest') expect(m.layers.map((l) => l.mediaType)).toEqual([MT.dockerLayerGzip, MT.dockerLayer]);
  });

  test('OCI index and Docker manifest list with platforms', () => {
    const entries = [
      { mediaType: MT.ociManifest, digest: d('1'), size: 5, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MT.ociManifest, digest: d('2'), size: 6, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    ];
    const i = parseManifest(json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: entries }));
    expect(i).toEqual({ kind: 'index', mediaType: MT.ociIndex, manifests: entries });
    const l = parseManifest(json({ schemaVersion: 2, mediaType: MT.dockerManifestList, manifests: entries.map((e) => ({ ...e, mediaType: MT.dockerManifest })) }), MT.dockerManifestList);
    expect(l.kind).toBe('index');
    if (l.kind === 'index') expect(l.manifests[1]!.platform).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
  });

  test('generic content types from a registry do not override the body', () => {
    const m = parseManifest(json({ schemaVersion: 2, mediaType: MT.dockerManifestList, manifests: [] }), 'application/json');
    expect(m.kind).toBe('index');
  });

  test.each([
    ['schemaVersion 1 body', { schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [], history: [] }, undefined],
    ['schema 1 media type', { schemaVersion: 1, fsLayers: [] }, MT.dockerSchema1],
    ['signed schema 1', { schemaVersion: 1, signatures: [] }, MT.dockerSchema1Signed],
  ])('%s -> "unsupported", naming the source', (_n, body, mt) => {
    const e = errorOf(() => parseManifest(json(body), mt, WHERE));
    expect(e).toBeInstanceOf(InvalidImageError);
    expect(e.message).toContain(WHERE);
    expect(e.message).toMatch(/schema 1 is unsupported/);
  });

  test.each([
    ['not JSON', Buffer.from('<html>oops</html>'), undefined, /manifest is not valid JSON/],
    ['a JSON array', json([1]), undefined, /not a JSON object/],
    ['schemaVersion 3', json({ schemaVersion: 3, config: cfg, layers: [] }), undefined, /schemaVersion 3 is unsupported/],
    ['media type disagreement', json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] }), MT.ociManifest, /says mediaType application\/vnd.oci.image.index.v1\+json but was served\/referenced as application\/vnd.oci.image.manifest.v1\+json/],
    ['foreign layer', json({ schemaVersion: 2, mediaType: MT.dockerManifest, config: { ...cfg, mediaType: MT.dockerConfig }, layers: [layer(), layer(MT.dockerForeignLayer, 'f')] }), undefined, /layer 1 sha256:f+: media type application\/vnd.docker.image.rootfs.foreign.diff.tar.gzip is a foreign \(non-distributable\) layer/],
    ['non-distributable OCI layer', json({ schemaVersion: 2, config: cfg, layers: [layer('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip')] }), undefined, /foreign \(non-distributable\)/],
    ['encrypted layer', json({ schemaVersion: 2, config: cfg, layers: [layer('application/vnd.oci.image.layer.v1.tar+gzip+encrypted')] }), undefined, /encrypted layer/],
    ['unknown layer type', json({ schemaVersion: 2, config: cfg, layers: [layer('application/x-whatever')] }), undefined, /is not a layer media type groot reads/],
    ['helm chart config', json({ schemaVersion: 2, config: { ...cfg, mediaType: 'application/vnd.cncf.helm.config.v1+json' }, layers: [] }), undefined, /not a container image config/],
    ['artifact manifest', json({ schemaVersion: 2, mediaType: MT.ociArtifactManifest, blobs: [] }), undefined, /OCI artifact manifest/],
    ['unknown manifest type', json({ schemaVersion: 2, mediaType: 'application/x-foo', layers: [] }), undefined, /unsupported manifest media type application\/x-foo/],
    ['no config', json({ schemaVersion: 2, layers: [] }), MT.ociManifest, /no config descriptor/],
    ['no layers', json({ schemaVersion: 2, config: cfg }), undefined, /no "layers" array/],
    ['md5 layer digest', json({ schemaVersion: 2, config: cfg, layers: [{ ...layer(), digest: 'md5:' + 'a'.repeat(32) }] }), undefined, /layer 0 digest "md5:a+" uses unsupported algorithm "md5"/],
    ['short digest', json({ schemaVersion: 2, config: { ...cfg, digest: 'sha256:abc' }, layers: [] }), undefined, /config digest "sha256:abc" is not sha256:<64 lowercase hex digits>/],
    ['uppercase digest', json({ schemaVersion: 2, config: { ...cfg, digest: 'sha256:' + 'A'.repeat(64) }, layers: [] }), undefined, /lowercase/],
    ['negative size', json({ schemaVersion: 2, config: cfg, layers: [{ ...layer(), size: -1 }] }), undefined, /layer 0 sha256:a+ has an invalid size -1/],
    ['fractional size', json({ schemaVersion: 2, config: cfg, layers: [{ ...layer(), size: 1.5 }] }), undefined, /invalid size 1.5/],
    ['string size', json({ schemaVersion: 2, config: cfg, layers: [{ ...layer(), size: '10' }] }), undefined, /invalid size "10"/],
    ['bad media type', json({ schemaVersion: 2, config: { ...cfg, mediaType: 'not a type' }, layers: [] }), undefined, /config has an invalid mediaType "not a type"/],
    ['index entry without digest', json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, size: 1 }] }), undefined, /index entry 0 digest undefined is not a string/],
    ['platform without os', json({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: d('1'), size: 1, platform: { architecture: 'amd64' } }] }), undefined, /platform must have string "os" and "architecture"/],
    ['index without manifests', json({ schemaVersion: 2, mediaType: MT.ociIndex }), undefined, /has no "manifests" array/],
  ])('rejects %s with a message naming the source', (_n, bytes, mt, msg) => {
    const e = errorOf(() => parseManifest(bytes, mt, WHERE));
    expect(e).toBeInstanceOf(InvalidImageError);
    expect(e.message.startsWith(`${WHERE}: `)).toBe(true);
    expect(e.message).toMatch(msg);
  });

  test('sha512 digests are accepted', () => {
    const m = parseManifest(json({ schemaVersion: 2, config: { ...cfg, digest: 'sha512:' + 'f'.repeat(128) }, layers: [] }));
    expect(m.kind === 'manifest' && m.config.digest).toBe('sha512:' + 'f'.repeat(128));
  });

  test('manifests over 4 MiB are refused before parsing', () => {
    expect(() => parseManifest(Buffer.alloc((4 << 20) + 1, 0x20), undefined, WHERE)).toThrow(/over the 4194304-byte limit/);
  });

  test('Accept header lists every manifest and index type', () => {
    for (const t of [MT.ociIndex, MT.ociManifest, MT.dockerManifest, MT.dockerManifestList]) expect(MANIFEST_ACCEPT).toContain(t);
  });
});

describe('digests', () => {
  test('verifyBytes checks size and digest, in either algorithm', () => {
    const data = Buffer.from('hello');
    verifyBytes(data, { digest: digestOf(data), size: 5 }, 'blob');
    verifyBytes(data, { digest: digestOf(data, 'sha512') }, 'blob');
    expect(digestOf(data)).toBe('sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(() => verifyBytes(data, { digest: digestOf(data), size: 6 }, 'manifest of x')).toThrow(DigestMismatchError);
    expect(() => verifyBytes(data, { digest: digestOf(data), size: 6 }, 'manifest of x')).toThrow('manifest of x: size mismatch: expected 6 bytes, got 5');
    expect(() => verifyBytes(data, { digest: d('0') }, 'manifest of x')).toThrow(`manifest of x: digest mismatch: expected ${d('0')}, got ${digestOf(data)}`);
  });

  test('isDigest', () => {
    expect(isDigest(d('a'))).toBe(true);
    expect(isDigest('sha512:' + 'a'.repeat(128))).toBe(true);
    for (const bad of ['sha256:' + 'a'.repeat(63), 'sha512:' + 'a'.repeat(64), 'sha256' + 'a'.repeat(64), 'SHA256:' + 'a'.repeat(64), 'sha256:../../etc/passwd', 42, undefined]) {
      expect(isDigest(bad)).toBe(false);
    }
  });
});
