import { splitEntryName, showName } from '../../src/layer/paths.js';
import { detectCompression, declaredCompression } from '../../src/layer/compression.js';

describe('entry names', () => {
  test.each([
    ['a/b/c', ['a', 'b', 'c']],
    ['./a//b/./c/', ['a', 'b', 'c']],
    ['/etc/passwd', ['etc', 'passwd']],
    ['//x', ['x']],
    ['./', []],
    ['/', []],
    ['.wh.x', ['.wh.x']],
    ['a/..b/c..', ['a', '..b', 'c..']],
  ])('%j splits to %j', (name, parts) => {
    expect(splitEntryName(name)).toEqual(parts);
  });

  test.each(['..', '../x', 'a/../b', 'a/b/..', '/../etc', './..'])('%j has a ".." component', (name) => {
    expect(splitEntryName(name)).toBe('dotdot');
  });

  test('a NUL byte is refused', () => {
    expect(splitEntryName('a\0b')).toBe('nul');
  });

  // The rule, written as plainly as it reads, against splitEntryName on 20000 names made of
  // the pieces that matter.
  test('the same as the rule for every name built from "", ".", "..", "a", ".a", "a." and slashes', () => {
    const rule = (name: string): string[] | string => {
      if (name.includes('\0')) return 'nul';
      const parts = name.split('/').filter((p) => p !== '' && p !== '.');
      return parts.includes('..') ? 'dotdot' : parts;
    };
    const pieces = ['', '.', '..', 'a', '.a', 'a.', '..a', 'usr', 'x.so'];
    let seed = 7;
    const rand = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 16) % n; };
    for (let i = 0; i < 20000; i++) {
      const n = 1 + rand(5);
      const name = (rand(3) === 0 ? '/' : rand(2) === 0 ? './' : '') + Array.from({ length: n }, () => pieces[rand(pieces.length)]).join('/') + (rand(4) === 0 ? '/' : '');
      expect([name, splitEntryName(name)]).toEqual([name, rule(name)]);
    }
  });

  test('names are shown as UTF-8, quoted', () => {
    expect(showName(Buffer.from('ü/x').toString('latin1'))).toBe('"ü/x"');
  });
});

describe('compression', () => {
  test('detected from magic bytes', () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    expect(detectCompression(Buffer.from('etc/'))).toBe('none');
    expect(detectCompression(Buffer.alloc(0))).toBe('none');
  });

  test.each([
    ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
    ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
    ['application/vnd.oci.image.layer.v1.tar', 'none'],
    ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
    ['application/vnd.docker.image.rootfs.diff.tar', 'none'],
    ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'gzip'],
    ['Application/VND.OCI.image.layer.v1.tar+gzip; charset=x', 'gzip'],
    ['application/octet-stream', undefined],
  ])('media type %s declares %s', (mt, c) => {
    expect(declaredCompression(mt)).toBe(c);
  });

  test('unsupported compressions are named', () => {
    expect(declaredCompression('application/vnd.oci.image.layer.v1.tar+bzip2')).toEqual({ unsupported: expect.stringMatching(/^bzip2 layers/) });
    expect(declaredCompression('application/vnd.oci.image.layer.v1.tar+gzip+encrypted')).toEqual({ unsupported: expect.stringMatching(/^encrypted/) });
  });
});
