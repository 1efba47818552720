// Store locks: shared holders coexist, exclusive waits for them (and they for it), waiting
// can be aborted; records are written atomically and read back, junk named in errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLock, readRecord, writeRecord, listRecords, removeRecord } from '../../src/store/index.js';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'groot-locks-')); });
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('shared locks coexist; exclusive waits until they are released', async () => {
  const p = join(dir, 'store.lock');
  const a = await acquireLock(p, 'shared');
  const b = await acquireLock(p, 'shared');
  let got = false;
  const ex = acquireLock(p, 'exclusive').then((l) => { got = true; return l; });
  await sleep(100);
  expect(got).toBe(false);
  await a.release();
  await sleep(100);
  expect(got).toBe(false);
  await b.release();
  const l = await ex;
  expect(got).toBe(true);
  // And a shared one waits for the exclusive holder.
  let shared = false;
  const s = acquireLock(p, 'shared').then((x) => { shared = true; return x; });
  await sleep(100);
  expect(shared).toBe(false);
  await l.release();
  await (await s).release();
});

test('waiting for a lock stops when the signal aborts', async () => {
  const p = join(dir, 'chain.lock');
  const held = await acquireLock(p, 'exclusive');
  const ac = new AbortController();
  const waiting = acquireLock(p, 'exclusive', ac.signal);
  setTimeout(() => ac.abort(), 50);
  await expect(waiting).rejects.toMatchObject({ code: 'GROOT_ABORTED' });
  await held.release();
});

test('records: written atomically, listed without temp files, removed; corrupt ones named', async () => {
  await writeRecord(join(dir, 'a.json'), { x: 1 });
  await writeRecord(join(dir, 'b.json'), { x: 2 });
  writeFileSync(join(dir, '.c.json.tmp-123'), '{');
  expect(await listRecords(dir)).toEqual(['a', 'b']);
  expect(await readRecord(join(dir, 'a.json'))).toEqual({ x: 1 });
  expect(await readRecord(join(dir, 'missing.json'))).toBeUndefined();
  await removeRecord(join(dir, 'a.json'));
  expect(await listRecords(dir)).toEqual(['b']);
  writeFileSync(join(dir, 'bad.json'), '{"trunc');
  await expect(readRecord(join(dir, 'bad.json'))).rejects.toThrow(/bad\.json is not valid JSON/);
  expect(await listRecords(join(dir, 'nope'))).toEqual([]);
});
