import { InvalidArgumentError } from '../../src/errors/index.js';
import { formatSource, parseSource } from '../../src/image/index.js';

const D256 = 'sha256:' + 'ab'.repeat(32);
const D512 = 'sha512:' + 'cd'.repeat(64);

describe('parseSource: OCI layouts', () => {
  test.each([
    ['oci:///var/vcap/images/cflinuxfs4', { kind: 'oci', path: '/var/vcap/images/cflinuxfs4' }],
    ['oci:///var/vcap/images/cflinuxfs4:1.2', { kind: 'oci', path: '/var/vcap/images/cflinuxfs4', tag: '1.2' }],
    ['oci:/abs/layout:latest', { kind: 'oci', path: '/abs/layout', tag: 'latest' }],
    ['oci:///a/b/:t', { kind: 'oci', path: '/a/b', tag: 't' }],
    [`oci:///a/b@${D256}`, { kind: 'oci', path: '/a/b', digest: D256 }],
    [`oci:///a/b@${D512}`, { kind: 'oci', path: '/a/b', digest: D512 }],
    [`oci:///a/b:v1@${D256}`, { kind: 'oci', path: '/a/b', tag: 'v1', digest: D256 }],
    // ref names written by containerd/BuildKit are full references
    ['oci:///a/b:docker.io/library/busybox:1.36', { kind: 'oci', path: '/a/b', tag: 'docker.io/library/busybox:1.36' }],
    ['oci:///a/b:_underscore', { kind: 'oci', path: '/a/b', tag: '_underscore' }],
  ])('%s', (source, want) => {
    expect(parseSource(source)).toEqual(want);
  });

  test('relative oci:PATH resolves against the working directory', () => {
    expect(parseSource('oci:images/x:tag', '/srv/work')).toEqual({ kind: 'oci', path: '/srv/work/images/x', tag: 'tag' });
    expect(parseSource('oci:../x', '/srv/work')).toEqual({ kind: 'oci', path: '/srv/x' });
    expect(parseSource('oci:layout')).toEqual({ kind: 'oci', path: `${process.cwd()}/layout` });
  });

  test.each([
    ['oci:', /no layout path/],
    ['oci:///a/b:', /empty tag/],
    ['oci:///a/b:bad tag', /tag "bad tag" is not a valid reference name/],
    ['oci:///a/b:-x', /not a valid reference name/],
    ['oci://host/path', /oci:\/\/HOST\/\.\.\. is not a layout path/],
    ['oci:///a/b@md5:abcd', /unsupported algorithm "md5"/],
    ['oci:///a/b@sha256:1234', /is not sha256:<64 lowercase hex digits>/],
    [`oci:///a/b@sha256:${'AB'.repeat(32)}`, /lowercase/],
  ])('rejects %s', (source, msg) => {
    let err: unknown;
    try { parseSource(source); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(JSON.stringify(source));
    expect((err as Error).message).toMatch(msg);
  });

  test('"oci:///" is the path "/" (not a layout, which resolve() reports)', () => {
    // "/" is a path (it just is not a layout); parseSource accepts it, resolve() will refuse it.
    expect(parseSource('oci:///')).toEqual({ kind: 'oci', path: '/' });
  });
});

describe('parseSource: registries (GrootFS docker:// form)', () => {
  const hub = { kind: 'docker', domain: 'docker.io', registry: 'registry-1.docker.io' };
  test.each([
    ['docker:///cfcontainer/x', { ...hub, repository: 'cfcontainer/x', tag: 'latest', name: 'docker.io/cfcontainer/x:latest' }],
    ['docker:///busybox', { ...hub, repository: 'library/busybox', tag: 'latest', name: 'docker.io/library/busybox:latest' }],
    ['docker://busybox', { ...hub, repository: 'library/busybox', tag: 'latest', name: 'docker.io/library/busybox:latest' }],
    ['docker:///busybox:1.36.1', { ...hub, repository: 'library/busybox', tag: '1.36.1', name: 'docker.io/library/busybox:1.36.1' }],
    ['docker://cloudfoundry/cflinuxfs4:1.2', { ...hub, repository: 'cloudfoundry/cflinuxfs4', tag: '1.2', name: 'docker.io/cloudfoundry/cflinuxfs4:1.2' }],
    ['docker://docker.io/ubuntu', { ...hub, repository: 'library/ubuntu', tag: 'latest', name: 'docker.io/library/ubuntu:latest' }],
    ['docker://index.docker.io/library/ubuntu:22.04', { ...hub, repository: 'library/ubuntu', tag: '22.04', name: 'docker.io/library/ubuntu:22.04' }],
    [`docker:///busybox@${D256}`, { ...hub, repository: 'library/busybox', digest: D256, name: `docker.io/library/busybox@${D256}` }],
    [`docker:///busybox:1.36@${D256}`, { ...hub, repository: 'library/busybox', tag: '1.36', digest: D256, name: `docker.io/library/busybox:1.36@${D256}` }],
    ['docker://host:5000/repo:tag', { kind: 'docker', domain: 'host:5000', registry: 'host:5000', repository: 'repo', tag: 'tag', name: 'host:5000/repo:tag' }],
    ['docker://127.0.0.1:5000/a/b/c', { kind: 'docker', domain: '127.0.0.1:5000', registry: '127.0.0.1:5000', repository: 'a/b/c', tag: 'latest', name: '127.0.0.1:5000/a/b/c:latest' }],
    ['docker://localhost/x', { kind: 'docker', domain: 'localhost', registry: 'localhost', repository: 'x', tag: 'latest', name: 'localhost/x:latest' }],
    ['docker://registry.example.com/org/cflinuxfs4:1.2', { kind: 'docker', domain: 'registry.example.com', registry: 'registry.example.com', repository: 'org/cflinuxfs4', tag: '1.2', name: 'registry.example.com/org/cflinuxfs4:1.2' }],
    ['docker://[::1]:5000/x', { kind: 'docker', domain: '[::1]:5000', registry: '[::1]:5000', repository: 'x', tag: 'latest', name: '[::1]:5000/x:latest' }],
    ['docker:///a__b/c-d.e--f_g:T_1.x-y', { ...hub, repository: 'a__b/c-d.e--f_g', tag: 'T_1.x-y', name: 'docker.io/a__b/c-d.e--f_g:T_1.x-y' }],
  ])('%s', (source, want) => {
    expect(parseSource(source)).toEqual(want);
  });

  test.each([
    ['docker://', /no repository name/],
    ['docker:///', /no repository name/],
    ['docker:busybox', /docker:\/\/\[HOST\[:PORT\]\/\]REPO/],
    ['docker:///Busybox', /must be lowercase/],
    ['docker://host:5000/Org/x', /must be lowercase/],
    ['docker:///a/-b', /path component "-b" is not valid/],
    ['docker:///a//b', /empty path component/],
    ['docker:///a_-b', /path component "a_-b"/],
    ['docker:///x:', /tag "" is not valid/],
    ['docker:///x:.bad', /tag ".bad" is not valid/],
    [`docker:///x:${'t'.repeat(129)}`, /is not valid/],
    ['docker:///x@sha256:abc', /digest "sha256:abc" is not sha256:/],
    [`docker:///x@sha1:${'a'.repeat(40)}`, /unsupported algorithm "sha1"/],
    ['docker://bad_host.com/x', /registry host "bad_host.com" is not a valid/],
    ['docker://host:port/x', /registry host "host:port"/],
    [`docker://host.com/${'a'.repeat(250)}`, /longer than 255/],
  ])('rejects %s', (source, msg) => {
    let err: unknown;
    try { parseSource(source); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(JSON.stringify(source));
    expect((err as Error).message).toMatch(msg);
  });
});

describe('parseSource: rootfs tarballs', () => {
  test.each([
    ['/var/vcap/packages/cflinuxfs4/rootfs.tar', '/var/vcap/packages/cflinuxfs4/rootfs.tar'],
    ['file:///var/vcap/rootfs.tar.gz', '/var/vcap/rootfs.tar.gz'],
    ['/a/../b/./rootfs.tar', '/b/rootfs.tar'],
  ])('%s', (source, path) => {
    expect(parseSource(source)).toEqual({ kind: 'tarball', path });
  });

  test('relative paths and file names with colons resolve against cwd', () => {
    expect(parseSource('stacks/rootfs.tar', '/srv')).toEqual({ kind: 'tarball', path: '/srv/stacks/rootfs.tar' });
    expect(parseSource('my:rootfs.tar', '/srv')).toEqual({ kind: 'tarball', path: '/srv/my:rootfs.tar' });
  });

  test.each([
    ['', /empty source/],
    [' /x.tar', /whitespace/],
    ['/x\0.tar', /NUL/],
    ['file://host/x.tar', /file:\/\/\/ABSOLUTE\/PATH/],
    ['https://example.com/rootfs.tar', /HTTP is not supported/],
    ['s3://bucket/rootfs.tar', /unsupported scheme "s3:"/],
  ])('rejects %j', (source, msg) => {
    expect(() => parseSource(source)).toThrow(InvalidArgumentError);
    expect(() => parseSource(source)).toThrow(msg);
  });
});

test('formatSource round-trips through parseSource', () => {
  for (const s of ['oci:///a/b:t', `oci:///a/b@${D256}`, 'docker://host:5000/repo:tag', `docker:///busybox:1@${D256}`, '/x/rootfs.tar']) {
    const ref = parseSource(s);
    expect(parseSource(formatSource(ref))).toEqual(ref);
  }
});
