// A full filesystem, recognised wherever it is wrapped, and the same class after a worker.
import { writeFileSync } from 'node:fs';
import { StoreError, StoreFullError, SyscallError, errorData, noSpaceCode, noSpaceWords, reviveError } from '../../src/errors/index.js';

const nodeError = (code: string, errno: number) => Object.assign(new Error(`${code}: no space left on device, write`), { code, errno: -errno, syscall: 'write' });

test('noSpaceCode: ENOSPC and EDQUOT from Node, from koffi calls, inside causes; nothing else', () => {
  expect(noSpaceCode(nodeError('ENOSPC', 28))).toBe('ENOSPC');
  expect(noSpaceCode(nodeError('EDQUOT', 122))).toBe('EDQUOT');
  expect(noSpaceCode(new SyscallError('lsetxattr', 28, '/x', 'No space left on device'))).toBe('ENOSPC');
  expect(noSpaceCode(new SyscallError('mkdirat', 122, '/x', 'Disk quota exceeded'))).toBe('EDQUOT');
  expect(noSpaceCode(new StoreError('layer 1/1: write failed', { cause: new StoreError('inner', { cause: nodeError('ENOSPC', 28) }) }))).toBe('ENOSPC');
  expect(noSpaceCode(nodeError('EIO', 5))).toBeUndefined();
  expect(noSpaceCode(new SyscallError('mount', 22, '/x', 'Invalid argument'))).toBeUndefined();
  expect(noSpaceCode(new StoreError('corrupt record'))).toBeUndefined();
  expect(noSpaceCode(undefined)).toBeUndefined();
  expect(noSpaceCode('ENOSPC')).toBeUndefined();
  // An fs error made by Node itself (another realm under jest: duck-typed, not instanceof).
  let real: unknown;
  try { writeFileSync('/dev/full', 'x'); } catch (e) { real = e; }
  expect(noSpaceCode(real)).toBe('ENOSPC');
});

test('noSpaceWords says what ran out, not the errno', () => {
  expect(noSpaceWords('ENOSPC')).toBe("no space left on the store's filesystem");
  expect(noSpaceWords('EDQUOT')).toBe("disk quota exceeded on the store's filesystem");
});

test('StoreFullError crosses a worker boundary as itself', () => {
  const e = new StoreFullError('layer 2/3 sha256:ab of oci:///l:x: entry "blob": write failed: no space left on the store\'s filesystem');
  const back = reviveError(structuredClone(errorData(e)));
  expect(back).toBeInstanceOf(StoreFullError);
  expect(back).toMatchObject({ name: 'StoreFullError', code: 'GROOT_STORE_FULL', message: e.message });
});
