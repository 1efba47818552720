// The source policy on its own: which local paths and insecure registries an object from
// the Kubernetes API may name (src/controller/source-policy.ts), on a real directory tree.
import { mkdtemp, mkdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSECURE_NOT_ALLOWED, SOURCE_NOT_ALLOWED, TRUST_ALL, restrictedPolicy, type SourceVerdict } from '../../src/controller/source-policy.js';

describe('source policy', () => {
  let root: string; let lib: string; let outside: string;
  beforeAll(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'groot-policy-')));
    lib = join(root, 'lib');
    outside = join(root, 'outside');
    for (const d of [lib, join(lib, 'layout'), join(lib, 'sub'), join(lib, 'a:b'), outside, join(outside, 'layout'), join(root, 'lib-evil', 'layout')]) await mkdir(d, { recursive: true });
    await writeFile(join(lib, 'rootfs.tar'), '');
    await writeFile(join(outside, 'secret.tar'), '');
    await symlink(join(outside, 'layout'), join(lib, 'escape'));
    await symlink(join(outside, 'secret.tar'), join(lib, 'escape.tar'));
    await symlink(join(lib, 'layout'), join(lib, 'current'));
    await symlink(join(lib, 'a:b'), join(lib, 'colon'));
    await symlink(lib, join(root, 'lib-link'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  const policy = () => restrictedPolicy({ localSourceDirs: [lib], insecureRegistries: ['reg.example:5000', 'any-port.example', 'docker.io'] });
  const check = (source: string, insecure?: boolean, p = policy()) => p.check('Image default/x', { source, field: 'spec.source', insecure });
  const refused = (v: SourceVerdict) => (v.allowed ? undefined : v);

  test('a local source inside an allowed directory is allowed, as the real path', async () => {
    expect(await check(`oci://${lib}/layout:v1`)).toEqual({ allowed: true, source: `oci://${lib}/layout:v1` });
    expect(await check(`oci://${lib}/layout@sha256:${'a'.repeat(64)}`)).toEqual({ allowed: true, source: `oci://${lib}/layout@sha256:${'a'.repeat(64)}` });
    expect(await check(`${lib}/rootfs.tar`)).toEqual({ allowed: true, source: `${lib}/rootfs.tar` });
    expect(await check(`file://${lib}/rootfs.tar`)).toEqual({ allowed: true, source: `${lib}/rootfs.tar` });
    // A symlink that stays inside: what the engine reads is its target.
    expect(await check(`oci://${lib}/current:v1`)).toEqual({ allowed: true, source: `oci://${lib}/layout:v1` });
    // The allowed directory itself may be named through a symlink.
    expect(await restrictedPolicy({ localSourceDirs: [join(root, 'lib-link')] }).check('Image default/x', { source: `oci://${lib}/layout`, field: 'spec.source' })).toEqual({ allowed: true, source: `oci://${lib}/layout` });
  });

  test('a local source outside every allowed directory is refused, naming the object, the field and how to allow it', async () => {
    const r = refused(await check(`oci://${outside}/layout:v1`));
    expect(r?.reason).toBe(SOURCE_NOT_ALLOWED);
    expect(r?.message).toBe(`Image default/x: spec.source "oci://${outside}/layout:v1" is a local path that is not inside a directory this node allows Kubernetes objects to read from (allowed: ${lib}); `
      + 'the node\'s operator can allow one with `groot controller --local-source-dir DIR` (config: controller.local_source_dirs), or use a registry source (docker://...)');
    expect(refused(await check(`${outside}/secret.tar`))?.reason).toBe(SOURCE_NOT_ALLOWED);
    // A sibling whose name merely starts with the allowed directory's.
    expect(refused(await check(`oci://${root}/lib-evil/layout`))?.reason).toBe(SOURCE_NOT_ALLOWED);
    expect(refused(await check('oci:///etc'))?.reason).toBe(SOURCE_NOT_ALLOWED);
  });

  test('".." is resolved: out of the directory is refused, back into it is allowed', async () => {
    expect(refused(await check(`oci://${lib}/../outside/layout:v1`))?.reason).toBe(SOURCE_NOT_ALLOWED);
    expect(refused(await check(`${lib}/sub/../../outside/secret.tar`))?.reason).toBe(SOURCE_NOT_ALLOWED);
    expect(await check(`${lib}/sub/../rootfs.tar`)).toEqual({ allowed: true, source: `${lib}/rootfs.tar` });
  });

  test('a symlink inside the directory that points out of it is refused', async () => {
    expect(refused(await check(`oci://${lib}/escape:v1`))?.reason).toBe(SOURCE_NOT_ALLOWED);
    expect(refused(await check(`${lib}/escape.tar`))?.reason).toBe(SOURCE_NOT_ALLOWED);
  });

  test('a path that does not exist is refused in the same words as one outside (nothing learnt about the host)', async () => {
    const words = (v: SourceVerdict, source: string) => refused(v)?.message.replace(JSON.stringify(source), 'SOURCE');
    const missingInside = `oci://${lib}/nope:v1`;
    const missingOutside = `oci://${outside}/nope:v1`;
    const existingOutside = `oci://${outside}/layout:v1`;
    const symlinkOut = `oci://${lib}/escape:v1`;
    const expected = words(await check(existingOutside), existingOutside);
    expect(expected).toMatch(/SOURCE is a local path that is not inside/);
    expect(words(await check(missingInside), missingInside)).toBe(expected);
    expect(words(await check(missingOutside), missingOutside)).toBe(expected);
    expect(words(await check(symlinkOut), symlinkOut)).toBe(expected);
  });

  test('no allowed directories (the default), or only missing ones: no local source at all', async () => {
    const none = restrictedPolicy();
    const r = refused(await none.check('RootFS ns/app', { source: `${lib}/rootfs.tar`, field: 'spec.image' }));
    expect(r?.reason).toBe(SOURCE_NOT_ALLOWED);
    expect(r?.message).toMatch(new RegExp(`^RootFS ns/app: spec\\.image "${lib}/rootfs\\.tar" .*\\(allowed: none\\)`));
    const gone = restrictedPolicy({ localSourceDirs: [join(root, 'not-there')] });
    expect(refused(await gone.check('Image default/x', { source: `oci://${root}/not-there`, field: 'spec.source' }))?.reason).toBe(SOURCE_NOT_ALLOWED);
  });

  test('an oci: real path holding ":" is refused rather than rewritten into another path', async () => {
    // oci://LIB/a:b:v1 would read back as the layout LIB/a with tag "b:v1".
    expect(refused(await check(`oci://${lib}/colon:v1`))?.reason).toBe(SOURCE_NOT_ALLOWED);
  });

  test('docker:// sources are untouched by the directory rule', async () => {
    for (const s of ['docker://busybox', 'docker://reg.example:5000/x:1', 'docker://other.example/y@sha256:' + 'b'.repeat(64)]) {
      expect(await check(s, false, restrictedPolicy())).toEqual({ allowed: true, source: s });
    }
  });

  test('insecure: honoured for listed registries ("host" any port, "host:port" that port), refused elsewhere', async () => {
    expect(await check('docker://reg.example:5000/x:1', true)).toEqual({ allowed: true, source: 'docker://reg.example:5000/x:1' });
    expect(await check('docker://any-port.example:8443/x:1', true)).toMatchObject({ allowed: true });
    expect(await check('docker://ANY-PORT.example/x:1', true)).toMatchObject({ allowed: true });
    expect(await check('docker://busybox', true)).toMatchObject({ allowed: true }); // docker.io
    const r = refused(await check('docker://reg.example:6000/x:1', true));
    expect(r?.reason).toBe(INSECURE_NOT_ALLOWED);
    expect(r?.message).toBe('Image default/x: spec.insecure is true, but registry "reg.example:6000" is not one this node allows Kubernetes objects to reach without TLS verification (allowed: reg.example:5000, any-port.example, docker.io); '
      + 'the node\'s operator can allow it with `groot controller --insecure-registry HOST` (config: controller.insecure_registries), or remove spec.insecure');
    expect(refused(await check('docker://evil.example/x', true, restrictedPolicy()))?.message).toMatch(/\(allowed: none\)/);
    // insecure: false needs nothing.
    expect(await check('docker://evil.example/x', false, restrictedPolicy())).toMatchObject({ allowed: true });
  });

  test('drop-ins (TRUST_ALL): any local path and any insecure registry, the source as given', async () => {
    for (const [s, insecure] of [[`oci://${outside}/layout:v1`, false], [`oci://${lib}/escape`, false], ['/nope/rootfs.tar', false], ['docker://evil.example/x', true]] as const) {
      expect(await TRUST_ALL.check('Image default/x', { source: s, field: 'spec.source', insecure })).toEqual({ allowed: true, source: s });
    }
  });
});
