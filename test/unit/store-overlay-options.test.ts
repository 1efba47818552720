// Option strings for 200-layer overlays: the relative form (what mount(2) gets on kernels
// without lowerdir+) must stay under one page; the absolute form is what runtimes get.
import { StoreLayout, shortName, digestKey } from '../../src/store/index.js';
import { overlayDirs, relativeMountData, mountSpec, MOUNT_DATA_MAX } from '../../src/rootfs/overlay.js';

const layout = new StoreLayout('/var/lib/groot');
const lowers = (n: number) => Array.from({ length: n }, () => `l/${shortName()}`);
const id = 'a'.repeat(36); // a Garden handle is usually a 36-char guid

test('short link names are 10 base62 characters and differ', () => {
  const names = new Set(Array.from({ length: 1000 }, shortName));
  expect(names.size).toBe(1000);
  for (const n of names) expect(n).toMatch(/^[A-Za-z0-9]{10}$/);
});

test('a 200-layer relative option string fits the 4096-byte mount(2) limit', () => {
  const data = relativeMountData(overlayDirs(id, lowers(200)));
  expect(Buffer.byteLength(data)).toBeLessThan(MOUNT_DATA_MAX);
  expect(data.startsWith('lowerdir=l/')).toBe(true);
  expect(data).toContain(`,upperdir=images/${id}/diff,workdir=images/${id}/workdir`);
});

test('relative strings fit up to about 300 layers; absolute ones would not fit 200', () => {
  expect(Buffer.byteLength(relativeMountData(overlayDirs(id, lowers(300))))).toBeLessThan(MOUNT_DATA_MAX);
  const abs = mountSpec(layout, overlayDirs(id, lowers(200))).options[0]!;
  expect(Buffer.byteLength(abs)).toBeGreaterThan(MOUNT_DATA_MAX);
});

test('the runtime mount spec is one absolute overlay mount, lowers topmost first', () => {
  const ls = ['l/TOP0000000', 'l/BASE000000'];
  const m = mountSpec(layout, overlayDirs('x1', ls));
  expect(m).toEqual({
    destination: '/', type: 'overlay', source: 'overlay',
    options: ['lowerdir=/var/lib/groot/l/TOP0000000:/var/lib/groot/l/BASE000000,upperdir=/var/lib/groot/images/x1/diff,workdir=/var/lib/groot/images/x1/workdir'],
  });
});

test('store keys: sha256 digests by their hex, other algorithms prefixed, junk refused', () => {
  const hex = 'ab'.repeat(32);
  expect(digestKey(`sha256:${hex}`)).toBe(hex);
  expect(digestKey(`sha512:${hex}${hex}`)).toBe(`sha512-${hex}${hex}`);
  expect(() => digestKey('sha256:../../etc')).toThrow(/cannot name a store entry/);
  expect(() => digestKey('nocolon')).toThrow(/cannot name a store entry/);
});
