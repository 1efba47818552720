import { WorkQueue } from '../../src/controller/queue.js';
import { sleep, waitFor } from '../helpers/controller-wait.js';

const classOf = (k: string) => k.split('/')[0]!;

describe('WorkQueue', () => {
  const queues: WorkQueue[] = [];
  afterEach(async () => { for (const q of queues.splice(0)) await q.shutdown(100); });
  const make = (reconcile: ConstructorParameters<typeof WorkQueue>[0]['reconcile'], extra: Partial<ConstructorParameters<typeof WorkQueue>[0]> = {}) => {
    const q = new WorkQueue({ reconcile, concurrency: { Image: 1, RootFS: 2 }, classOf, baseDelayMs: 10, maxDelayMs: 200, ...extra });
    queues.push(q);
    return q;
  };

  test('events for one key coalesce while queued; an add while running runs it once more after', async () => {
    const runs: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const q = make(async (k) => { runs.push(k); if (runs.length === 1) await gate; });
    q.add('Image/a/x');
    await waitFor('running', () => q.running() === 1);
    q.add('Image/a/x'); q.add('Image/a/x'); q.add('Image/a/x');
    expect(q.depth()).toBe(0); // not queued beside itself
    release();
    await waitFor('second run', () => runs.length === 2);
    await q.whenIdle();
    await sleep(30);
    expect(runs).toEqual(['Image/a/x', 'Image/a/x']);
  });

  test('separate concurrency limits per class; a key never runs twice at once', async () => {
    let active = { Image: 0, RootFS: 0 }; const max = { Image: 0, RootFS: 0 };
    const q = make(async (k) => {
      const c = classOf(k) as 'Image' | 'RootFS';
      active[c]++; max[c] = Math.max(max[c], active[c]);
      await sleep(20);
      active[c]--;
    });
    for (let i = 0; i < 5; i++) { q.add(`Image/a/i${i}`); q.add(`RootFS/a/r${i}`); }
    await waitFor('drained', async () => { await q.whenIdle(); return true; });
    expect(max).toEqual({ Image: 1, RootFS: 2 });
    active = { Image: 0, RootFS: 0 };
  });

  test('failures back off exponentially per key; success resets; requeueAfter schedules', async () => {
    const times: number[] = [];
    let fail = 4;
    const q = make(async () => { times.push(Date.now()); if (fail-- > 0) throw new Error('boom'); return { requeueAfter: 60_000 }; });
    q.add('RootFS/a/b');
    await waitFor('5 attempts', () => times.length === 5, 3000);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // 10, 20, 40, 80 ms (timers may run late, never early)
    expect(gaps[0]).toBeGreaterThanOrEqual(9);
    expect(gaps[3]).toBeGreaterThanOrEqual(75);
    expect(gaps[3]!).toBeGreaterThan(gaps[0]!);
    expect(q.failuresOf('RootFS/a/b')).toBe(0);
    expect(q.delayed()).toBe(1); // requeueAfter 60 s pending
  });

  test('the overall token bucket limits rate-limited re-adds', () => {
    const q = make(async () => {}, { qps: 10, burst: 2, baseDelayMs: 0 });
    const d = [q.addRateLimited('Image/a/1'), q.addRateLimited('Image/a/2'), q.addRateLimited('Image/a/3'), q.addRateLimited('Image/a/4')];
    expect(d[0]).toBe(0); expect(d[1]).toBe(0);
    expect(d[2]).toBeGreaterThanOrEqual(90); expect(d[3]).toBeGreaterThanOrEqual(190);
  });

  test('shutdown stops taking work, waits for in-flight work, aborts it after the deadline', async () => {
    const seen: string[] = [];
    const q = make(async (k, signal) => {
      seen.push(k);
      await new Promise<void>((resolve) => { const t = setTimeout(resolve, 10_000); signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }); });
      if (signal.aborted) seen.push(`aborted ${k}`);
    });
    q.add('Image/a/slow');
    await waitFor('running', () => q.running() === 1);
    q.add('RootFS/a/x'); // runs too (other class)
    await waitFor('both', () => q.running() === 2);
    q.add('Image/a/queued'); // waits for the Image slot
    const t0 = Date.now();
    const aborted = await q.shutdown(150);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(aborted).toBe(2);
    expect(seen).toEqual(expect.arrayContaining(['aborted Image/a/slow', 'aborted RootFS/a/x']));
    expect(seen).not.toContain('Image/a/queued');
    q.add('Image/a/late');
    await sleep(20);
    expect(seen).not.toContain('Image/a/late');
  });

  test('shutdown returns at once when in-flight work finishes before the deadline', async () => {
    const q = make(async () => { await sleep(30); });
    q.add('Image/a/x');
    await waitFor('running', () => q.running() === 1);
    const t0 = Date.now();
    expect(await q.shutdown(5000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
