// Pull progress for people and for logs. On a terminal (stderr is a TTY) a block of lines,
// one per layer plus a total, redrawn in place. Without a terminal (Garden, CI) periodic
// structured log lines at info level, so they appear only when --log-level allows.
import type { LayerProgress, PullProgress } from '../rootfs/types.js';
import type { Logger } from '../log/index.js';

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export interface ProgressSink {
  update(p: PullProgress): void;
  /** Draw or log the final state once and stop. */
  done(): void;
}

export interface ProgressOptions {
  /** What is being pulled, shown in the heading / logged as `source`. */
  label: string;
  stream: ProgressStream;
  log: Logger;
  now?: () => number;
  /** Minimum time between redraws on a TTY. */
  ttyIntervalMs?: number;
  /** Minimum time between log lines without a TTY. */
  logIntervalMs?: number;
}

export function createProgress(o: ProgressOptions): ProgressSink {
  return o.stream.isTTY ? new TtyProgress(o) : new LogProgress(o);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${UNITS[i]}`;
}

function bar(done: number, total: number, width: number): string {
  if (width <= 0) return '';
  const f = total > 0 ? Math.min(1, done / total) : 0;
  const full = Math.round(f * width);
  return '[' + '='.repeat(full) + ' '.repeat(width - full) + ']';
}

function shortDigest(d: string): string {
  const i = d.indexOf(':');
  return i >= 0 ? d.slice(i + 1, i + 13) : d.slice(0, 12);
}

function layerLine(l: LayerProgress, barWidth: number): string {
  const state = l.state.padEnd(8);
  const amount = l.state === 'cached' ? 'already in the store'
    : l.bytesTotal > 0 ? `${formatBytes(l.bytesDone)} / ${formatBytes(l.bytesTotal)}` : formatBytes(l.bytesDone);
  const b = l.state === 'fetching' ? ' ' + bar(l.bytesDone, l.bytesTotal, barWidth) : '';
  return `  ${shortDigest(l.digest)}  ${state} ${amount}${b}`;
}

/** The lines of the TTY display, each cut to fit `columns`. Pure, for tests. */
export function renderProgressLines(label: string, p: PullProgress, columns = 80): string[] {
  const width = Math.max(20, columns) - 1; // never write into the last column: some terminals wrap there
  const barWidth = Math.max(0, Math.min(30, width - 60));
  const lines = [`Pulling ${label}`];
  for (const l of p.layers) lines.push(layerLine(l, barWidth));
  const pct = p.bytesTotal > 0 ? ` ${Math.floor((100 * Math.min(p.bytesDone, p.bytesTotal)) / p.bytesTotal)}%` : '';
  const finished = p.layers.filter((l) => l.state === 'done' || l.state === 'cached').length;
  lines.push(`  total  ${finished}/${p.layers.length} layers  ${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}${pct}`);
  return lines.map((l) => (l.length > width ? l.slice(0, width - 1) + '…' : l));
}

const CSI = '\x1b[';

const allCached = (p: PullProgress) => p.layers.every((l) => l.state === 'cached');

class TtyProgress implements ProgressSink {
  private drawn = 0;
  private last?: PullProgress;
  private lastDraw = -Infinity;
  private finished = false;
  private readonly now: () => number;
  private readonly interval: number;

  constructor(private readonly o: ProgressOptions) {
    this.now = o.now ?? Date.now;
    this.interval = o.ttyIntervalMs ?? 100;
  }

  update(p: PullProgress): void {
    if (this.finished) return;
    this.last = p;
    if (this.drawn === 0 && allCached(p)) return; // a warm create has nothing to show
    const t = this.now();
    if (t - this.lastDraw >= this.interval) this.draw(t);
  }

  done(): void {
    if (this.finished) return;
    if (this.last && !(this.drawn === 0 && allCached(this.last))) this.draw(this.now());
    this.finished = true;
  }

  private draw(t: number): void {
    const p = this.last!;
    this.lastDraw = t;
    const lines = renderProgressLines(this.o.label, p, this.o.stream.columns ?? 80);
    // Go back to the top of the block we drew last time, rewrite every line (clearing it
    // first, since a line can get shorter), and clear leftovers if the block shrank.
    let out = this.drawn > 0 ? `${CSI}${this.drawn}A\r` : '';
    for (const l of lines) out += `${CSI}2K${l}\n`;
    if (this.drawn > lines.length) out += `${CSI}J`;
    this.drawn = lines.length;
    this.o.stream.write(out);
  }
}

class LogProgress implements ProgressSink {
  private last?: PullProgress;
  private lastLog = -Infinity;
  private readonly seenDone = new Set<string>();
  private readonly now: () => number;
  private readonly interval: number;

  constructor(private readonly o: ProgressOptions) {
    this.now = o.now ?? Date.now;
    this.interval = o.logIntervalMs ?? 2000;
  }

  update(p: PullProgress): void {
    this.last = p;
    if (!this.o.log.isLevelEnabled('info')) return;
    for (const l of p.layers) {
      if (l.state === 'done' && !this.seenDone.has(l.digest)) {
        this.seenDone.add(l.digest);
        this.o.log.debug({ source: this.o.label, digest: l.digest, bytes: l.bytesTotal }, 'layer pulled');
      }
    }
    const t = this.now();
    if (t - this.lastLog >= this.interval) this.emit(t, 'pull progress');
  }

  done(): void {
    if (this.last && this.o.log.isLevelEnabled('info')) this.emit(this.now(), 'pull finished');
  }

  private emit(t: number, msg: string): void {
    const p = this.last!;
    this.lastLog = t;
    const layersDone = p.layers.filter((l) => l.state === 'done' || l.state === 'cached').length;
    this.o.log.info({ source: this.o.label, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, layersDone, layers: p.layers.length }, msg);
  }
}
