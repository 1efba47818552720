// errorData/reviveError: an error crossing a worker-thread boundary keeps its class, code and message.
import { errorData, reviveError, DigestMismatchError, UnsafeLayerError, SyscallError, RegistryError, GrootError, AbortedError } from '../../src/errors/index.js';

test.each([
  new DigestMismatchError('layer 1/2 sha256:ab of x: blob digest mismatch'),
  new UnsafeLayerError('entry ../x has a ".." component; refused'),
  new AbortedError('layer 2/2: unpack aborted'),
])('%s comes back as the same class', (e) => {
  const back = reviveError(structuredClone(errorData(e)));
  expect(back).toBeInstanceOf(e.constructor);
  expect(back).toBeInstanceOf(GrootError);
  expect(back.message).toBe(e.message);
  expect((back as GrootError).code).toBe(e.code);
});

test('a SyscallError keeps errno, syscall and its code', () => {
  const e = new SyscallError('mknod', 1, 'x', 'Operation not permitted');
  const back = reviveError(structuredClone(errorData(e))) as SyscallError;
  expect(back).toBeInstanceOf(SyscallError);
  expect(back.errno).toBe(1);
  expect(back.syscall).toBe('mknod');
  expect(back.code).toBe('GROOT_SYS_EPERM');
  expect(back.message).toBe(e.message);
});

test('a RegistryError keeps its specific code and status', () => {
  const e = new RegistryError('timed out', { code: 'GROOT_REGISTRY_TIMEOUT', status: 504 });
  const back = reviveError(structuredClone(errorData(e))) as RegistryError;
  expect(back).toBeInstanceOf(RegistryError);
  expect(back.code).toBe('GROOT_REGISTRY_TIMEOUT');
  expect(back.status).toBe(504);
});

test('a plain error stays a plain error with its name and code', () => {
  const e = Object.assign(new TypeError('bad'), { code: 'ERR_X' });
  const back = reviveError(structuredClone(errorData(e)));
  expect(back).not.toBeInstanceOf(GrootError);
  expect(back.name).toBe('TypeError');
  expect((back as { code?: string }).code).toBe('ERR_X');
  expect(back.message).toBe('bad');
});
