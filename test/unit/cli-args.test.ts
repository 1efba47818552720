import { checkLogLevel, checkRootfsId, idFromIdOrPath, parseBytes, parseIdMapping } from '../../src/cli/args.js';

describe('command-line values', () => {
  test('byte counts', () => {
    expect(parseBytes('--x', '0')).toBe(0);
    expect(parseBytes('--x', ' 1073741824 ')).toBe(1073741824);
    expect(() => parseBytes('--x', '-1')).toThrow('--x cannot be negative (-1)');
    expect(() => parseBytes('--x', '10MB')).toThrow('--x must be a whole number of bytes, got "10MB"');
    expect(() => parseBytes('--x', '')).toThrow('--x must be a whole number');
    expect(() => parseBytes('--x', '99999999999999999999')).toThrow('--x is too large');
  });

  test('id mappings NS:HOST:SIZE', () => {
    expect(parseIdMapping('uid-mapping', '0:4294967294:1')).toEqual({ containerID: 0, hostID: 4294967294, size: 1 });
    expect(parseIdMapping('uid-mapping', '1:100000:65536')).toEqual({ containerID: 1, hostID: 100000, size: 65536 });
    expect(() => parseIdMapping('uid-mapping', '0:1000')).toThrow('parsing uid-mapping: "0:1000" is not <namespace id>:<host id>:<size>');
    expect(() => parseIdMapping('gid-mapping', 'a:b:c')).toThrow('parsing gid-mapping');
    expect(() => parseIdMapping('uid-mapping', '0:1:0')).toThrow('has size 0');
    expect(() => parseIdMapping('uid-mapping', '0:4294967295:2')).toThrow('runs past id');
  });

  test('log levels', () => {
    expect(checkLogLevel('DEBUG', 'x')).toBe('debug');
    expect(checkLogLevel('fatal', 'x')).toBe('fatal');
    expect(() => checkLogLevel('loud', '--log-level')).toThrow('invalid log level "loud" in --log-level');
  });

  test('rootfs ids become one directory name', () => {
    expect(checkRootfsId('4f1c-app_instance.1')).toBe('4f1c-app_instance.1');
    expect(() => checkRootfsId('')).toThrow('id was not specified');
    expect(() => checkRootfsId('a/b')).toThrow('id `a/b` contains invalid characters: `/`');
    expect(() => checkRootfsId('..')).toThrow('is not a valid id');
    expect(() => checkRootfsId('a\nb')).toThrow('contains control characters');
    expect(() => checkRootfsId('x'.repeat(256))).toThrow('longer than 255 bytes');
  });

  test('id or path, as GrootFS idfinder', () => {
    expect(idFromIdOrPath('/s', 'abc')).toEqual({ id: 'abc' });
    expect(idFromIdOrPath('/s', '/s/images/abc')).toEqual({ id: 'abc' });
    expect(idFromIdOrPath('/s', '/s/images/abc/rootfs')).toEqual({ id: 'abc' });
    expect(idFromIdOrPath('/s/', '/s/images/abc/')).toEqual({ id: 'abc' });
    expect(idFromIdOrPath('/s', '/other/images/abc/rootfs')).toEqual({ outside: '/other/images/abc/rootfs' });
    expect(idFromIdOrPath('/s', '/s/images')).toEqual({ outside: '/s/images' });
    expect(idFromIdOrPath('/s', '/s/images/../volumes/x')).toEqual({ outside: '/s/images/../volumes/x' });
    expect(idFromIdOrPath('/s', 'rel/path')).toEqual({ outside: 'rel/path' });
  });
});
