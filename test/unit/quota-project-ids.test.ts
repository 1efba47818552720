// Project id allocation: O_EXCL files, lowest free id, dirty ids vetoed, no collisions when
// many allocations race (each open runs on its own libuv thread, so they really race).
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProjectIds } from '../../src/quota/project-ids.js';

let tmp: string;
beforeEach(async () => { tmp = await mkdtemp(join(tmpdir(), 'groot-pids-')); });
afterEach(async () => { await rm(tmp, { recursive: true, force: true }); });

const clean = () => true;

test('ids start at 1, go up, and record their owner', async () => {
  const ids = new ProjectIds(join(tmp, 'projectids'));
  expect(await ids.allocate('/s/images/a', clean)).toBe(1);
  expect(await ids.allocate('/s/images/b', clean)).toBe(2);
  expect(await ids.owner(1)).toBe('/s/images/a');
  expect(await readFile(join(tmp, 'projectids', '2'), 'utf8')).toBe('/s/images/b\n');
  expect(await ids.find('/s/images/b')).toBe(2);
  expect(await ids.find('/s/images/none')).toBeUndefined();
  expect(await ids.owner(7)).toBeUndefined();
});

test('a freed id is reused, lowest first', async () => {
  const ids = new ProjectIds(join(tmp, 'projectids'));
  for (const n of ['a', 'b', 'c']) await ids.allocate(n, clean);
  await ids.free(2);
  await ids.free(2); // twice is fine
  expect(await ids.allocate('d', clean)).toBe(2);
  expect(await ids.allocate('e', clean)).toBe(4);
});

test('an id that still holds bytes is skipped and not left claimed', async () => {
  const ids = new ProjectIds(join(tmp, 'projectids'));
  const dirty = new Set([1, 2]);
  expect(await ids.allocate('x', (id) => !dirty.has(id))).toBe(3);
  expect((await readdir(join(tmp, 'projectids'))).sort()).toEqual(['3']);
  dirty.clear();
  expect(await ids.allocate('y', clean)).toBe(1);
});

test('100 racing allocations from 4 allocators on one dir get 100 distinct ids', async () => {
  const dir = join(tmp, 'projectids');
  const allocators = [0, 1, 2, 3].map(() => new ProjectIds(dir));
  const got = await Promise.all(Array.from({ length: 100 }, (_, i) => allocators[i % 4].allocate(`/s/images/${i}`, clean)));
  expect(new Set(got).size).toBe(100);
  expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  for (let i = 0; i < 100; i++) expect(await allocators[0].owner(got[i])).toBe(`/s/images/${i}`);
});
