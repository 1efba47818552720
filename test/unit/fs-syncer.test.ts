// FilesystemSyncer: concurrent callers share syncs, and none is served by a sync that began before it asked.
import { FilesystemSyncer } from '../../src/sys/fsync.js';

function controlled() {
  const calls: { resolve: () => void; reject: (e: Error) => void; startedAt: number }[] = [];
  let clock = 0;
  const run = () => new Promise<void>((resolve, reject) => { calls.push({ resolve, reject, startedAt: clock++ }); });
  return { calls, run, tick: () => clock++ };
}

const settle = () => new Promise((r) => setImmediate(r));

test('callers during a running sync share one later sync', async () => {
  const c = controlled();
  const s = new FilesystemSyncer('/x', c.run);
  const first = s.sync();
  expect(c.calls).toHaveLength(1);
  const done: number[] = [];
  const waiting = [1, 2, 3, 4].map((i) => s.sync().then(() => done.push(i)));
  await settle();
  expect(c.calls).toHaveLength(1); // nobody rides on the sync that began before they asked
  c.calls[0]!.resolve();
  await first;
  await settle();
  expect(c.calls).toHaveLength(2); // one more for all four
  expect(done).toEqual([]);
  c.calls[1]!.resolve();
  await Promise.all(waiting);
  expect(done.sort()).toEqual([1, 2, 3, 4]);
  // Idle again: the next caller starts its own.
  const later = s.sync();
  expect(c.calls).toHaveLength(3);
  c.calls[2]!.resolve();
  await later;
});

test('a failed sync fails its callers only; the next sync is tried anew', async () => {
  const c = controlled();
  const s = new FilesystemSyncer('/x', c.run);
  const first = s.sync();
  const second = s.sync();
  c.calls[0]!.reject(new Error('EIO'));
  await expect(first).rejects.toThrow('EIO');
  await settle();
  expect(c.calls).toHaveLength(2);
  c.calls[1]!.resolve();
  await expect(second).resolves.toBeUndefined();
});
