// Disk limits with GrootFS semantics, and names usable in the store.
import { upperLimit, MIN_QUOTA_BYTES } from '../../src/rootfs/limits.js';
import { checkName } from '../../src/store/index.js';
import { isGrootError } from '../../src/errors/index.js';

const MiB = 1 << 20;

test('0 means no limit, whatever the image size', () => {
  expect(upperLimit(0, false, 50 * MiB)).toBe(0);
  expect(upperLimit(0, true, 50 * MiB)).toBe(0);
});

test('inclusive limits subtract the image; exclusive ones do not', () => {
  expect(upperLimit(100 * MiB, false, 30 * MiB)).toBe(70 * MiB);
  expect(upperLimit(100 * MiB, true, 30 * MiB)).toBe(100 * MiB);
});

test('an inclusive limit below the image size fails as GrootFS does', () => {
  let err: unknown;
  try { upperLimit(10 * MiB, false, 30 * MiB); } catch (e) { err = e; }
  expect(isGrootError(err, 'GROOT_QUOTA_EXCEEDED')).toBe(true);
  expect((err as Error).message).toMatch(/^disk limit is smaller than volume size/);
  // The exclusive form does not care about the image.
  expect(upperLimit(10 * MiB, true, 30 * MiB)).toBe(10 * MiB);
});

test('tiny limits are raised to the floor; negative ones are refused', () => {
  expect(upperLimit(30 * MiB, false, 30 * MiB)).toBe(MIN_QUOTA_BYTES);
  expect(upperLimit(1000, true, 0)).toBe(MIN_QUOTA_BYTES);
  expect(() => upperLimit(-1, true, 0)).toThrow(/cannot be negative/);
  expect(() => upperLimit(1.5, true, 0)).toThrow(/cannot be negative or fractional/);
});

test('ids: letters, digits, _ . -; no slashes, no dot names, not empty', () => {
  for (const ok of ['abc', '4f1c-app-instance', 'A_b.c-1', 'x'.repeat(254)]) expect(() => checkName('id', ok)).not.toThrow();
  for (const bad of ['', '.', '..', '../x', 'a/b', '.hidden', '-x', 'a b', 'ü', 'x'.repeat(255)]) {
    expect(() => checkName('id', bad)).toThrow(/id .* is not valid/);
  }
});
