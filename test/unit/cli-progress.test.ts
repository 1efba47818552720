import { pino } from 'pino';
import { Writable } from 'node:stream';
import { createProgress, formatBytes, renderProgressLines } from '../../src/cli/progress.js';
import type { PullProgress } from '../../src/rootfs/types.js';

const MiB = 1024 * 1024;
const snapshot = (a: number, b: number): PullProgress => ({
  bytesDone: a + b + 3 * MiB,
  bytesTotal: 3 * MiB + 10 * MiB + 20 * MiB,
  layers: [
    { digest: 'sha256:aaaaaaaaaaaaaaaaaaaa', bytesDone: 3 * MiB, bytesTotal: 3 * MiB, state: 'cached' },
    { digest: 'sha256:bbbbbbbbbbbbbbbbbbbb', bytesDone: a, bytesTotal: 10 * MiB, state: a === 10 * MiB ? 'done' : 'fetching' },
    { digest: 'sha256:cccccccccccccccccccc', bytesDone: b, bytesTotal: 20 * MiB, state: b === 0 ? 'waiting' : 'fetching' },
  ],
});

class FakeTty {
  isTTY = true;
  columns = 100;
  chunks: string[] = [];
  write(s: string) { this.chunks.push(s); return true; }
  /** Replay the writes on a tiny screen model: cursor up, erase line, erase below, newline. */
  screen(): string[] {
    const rows: string[] = [];
    let row = 0;
    let col = 0;
    const text = this.chunks.join('');
    for (let i = 0; i < text.length;) {
      const m = /^\x1b\[(\d*)([AJK])/.exec(text.slice(i));
      if (m) {
        const n = m[1] === '' ? 1 : Number(m[1]);
        if (m[2] === 'A') row = Math.max(0, row - n);
        else if (m[2] === 'K') rows[row] = '';
        else rows.length = row + 1, rows[row] = (rows[row] ?? '').slice(0, col);
        i += m[0].length;
        continue;
      }
      const ch = text[i++];
      if (ch === '\n') { row++; col = 0; continue; }
      if (ch === '\r') { col = 0; continue; }
      const line = (rows[row] ?? '').padEnd(col);
      rows[row] = line.slice(0, col) + ch + line.slice(col + 1);
      col++;
    }
    return rows.filter((r, i) => i < row || r !== '');
  }
}

describe('progress display', () => {
  test('formatBytes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(100 * MiB)).toBe('100.0 MiB');
    expect(formatBytes(-1)).toBe('?');
  });

  test('lines: heading, one per layer, total; cut to the terminal width', () => {
    const lines = renderProgressLines('oci:///img:latest', snapshot(5 * MiB, 0), 100);
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe('Pulling oci:///img:latest');
    expect(lines[1]).toContain('aaaaaaaaaaaa  cached');
    expect(lines[2]).toMatch(/bbbbbbbbbbbb  fetching 5\.00 MiB \/ 10\.0 MiB \[=+ +\]/);
    expect(lines[3]).toContain('waiting');
    expect(lines[4]).toBe('  total  1/3 layers  8.00 MiB / 33.0 MiB 24%');
    for (const l of renderProgressLines('x'.repeat(300), snapshot(1, 1), 40)) expect(l.length).toBeLessThanOrEqual(39);
  });

  test('a TTY gets the block redrawn in place, not appended', () => {
    const tty = new FakeTty();
    let t = 0;
    const p = createProgress({ label: 'img', stream: tty, log: pino({ level: 'silent' }), now: () => t, ttyIntervalMs: 100 });
    p.update(snapshot(0, 0));
    t = 50; p.update(snapshot(1 * MiB, 0)); // throttled: no redraw
    expect(tty.chunks).toHaveLength(1);
    t = 200; p.update(snapshot(10 * MiB, 4 * MiB));
    t = 210; p.update(snapshot(10 * MiB, 20 * MiB));
    p.done();
    p.update(snapshot(0, 0)); // after done nothing more is drawn
    expect(tty.chunks).toHaveLength(3);
    expect(tty.chunks[1].startsWith('\x1b[5A')).toBe(true);
    const screen = tty.screen();
    expect(screen).toHaveLength(5); // still one block: every redraw replaced the last
    expect(screen[2]).toMatch(/bbbbbbbbbbbb  done/);
    expect(screen[3]).toMatch(/cccccccccccc  fetching 20\.0 MiB \/ 20\.0 MiB/);
    expect(screen[4]).toBe('  total  2/3 layers  33.0 MiB / 33.0 MiB 100%');
  });

  test('a TTY shows nothing when every layer is already cached (warm create)', () => {
    const tty = new FakeTty();
    const p = createProgress({ label: 'img', stream: tty, log: pino({ level: 'silent' }) });
    const cached: PullProgress = { bytesDone: 5, bytesTotal: 5, layers: [{ digest: 'sha256:a', bytesDone: 5, bytesTotal: 5, state: 'cached' }] };
    p.update(cached);
    p.done();
    expect(tty.chunks).toEqual([]);
  });

  test('without a TTY: periodic info log lines, nothing on the stream', () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(c, _e, cb) { lines.push(JSON.parse(String(c))); cb(); } });
    const log = pino({ level: 'info' }, sink);
    const stream = { isTTY: false, chunks: [] as string[], write(s: string) { this.chunks.push(s); } };
    let t = 0;
    const p = createProgress({ label: 'img', stream, log, now: () => t, logIntervalMs: 1000 });
    p.update(snapshot(0, 0));
    t = 500; p.update(snapshot(5 * MiB, 0));
    t = 1500; p.update(snapshot(10 * MiB, 5 * MiB));
    p.done();
    expect(stream.chunks).toEqual([]);
    expect(lines.map((l) => l.msg)).toEqual(['pull progress', 'pull progress', 'pull finished']);
    expect(lines[1]).toMatchObject({ source: 'img', bytesDone: 18 * MiB, bytesTotal: 33 * MiB, layersDone: 2, layers: 3 });
  });

  test('without a TTY and logs quiet (the default), nothing is logged', () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }));
    const p = createProgress({ label: 'img', stream: { write: () => true }, log });
    p.update(snapshot(1, 1));
    p.done();
    expect(lines).toEqual([]);
  });
});
