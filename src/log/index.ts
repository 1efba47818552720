// One pino logger for the process. Quiet by default (warn); the CLI raises it with --log-level.
// Logs go to stderr (or --log-file): stdout belongs to the grootfs JSON contract.
// pino is loaded on the first log call, and never in an unpack worker thread, which hands
// its records to the main thread instead (forwardLogs): start-up time is paid per process
// and per worker.
import { createRequire } from 'node:module';
import type { Logger, LevelWithSilent } from 'pino';

export type { Logger };

type Pino = typeof import('pino');
let pinoLib: Pino | undefined;
const loadPino = (): Pino => (pinoLib ??= createRequire(import.meta.url)('pino') as Pino);

// Credentials are never logged, whatever object they ride on.
const REDACT = ['password', '*.password', 'auth', '*.auth', 'authorization', '*.authorization',
  'headers.authorization', '*.headers.authorization', 'token', '*.token', 'credentials', '*.credentials'];

let rootLogger: Logger | undefined;
const root = (): Logger => (rootLogger ??= makeRoot(settings));

export interface LogSettings { level?: string; file?: string }
let settings: LogSettings = {};
// The level below which nothing is logged, until configureLogging: every log call asks,
// and process.env is slow to read (a pull's progress asks per chunk).
let minLevel: number | undefined;

/** What configureLogging was last told (a worker thread logs the same way). */
export function loggingSettings(): LogSettings {
  return { ...settings };
}

/** Settle how this process logs; pino itself starts with the first record that passes the level. */
export function configureLogging(opts: LogSettings): void {
  settings = { ...opts };
  rootLogger = undefined;
  minLevel = undefined;
}

/** The level in force: what configureLogging said, else GROOT_LOG_LEVEL, else warn. */
const levelOf = (opts: LogSettings): string => opts.level ?? process.env.GROOT_LOG_LEVEL ?? 'warn';

function makeRoot(opts: LogSettings): Logger {
  const pino = loadPino();
  const level = levelOf(opts) as LevelWithSilent;
  const dest = opts.file ? pino.destination({ dest: opts.file, append: true, mkdir: true, sync: true }) : pino.destination(2);
  return pino.pino({ level, redact: REDACT }, dest);
}

/** A log record on its way from a worker thread to the main thread's logger. */
export interface LogRecord { level: string; bindings: Record<string, unknown>; obj: unknown; msg?: string }

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/** In a worker thread: log through `post` (to the main thread) records at `level` and above. */
export function forwardLogs(post: (r: LogRecord) => void, level = levelOf(settings)): void {
  rootLogger = forwarder(post, LEVELS[level] ?? 40, {});
}

/** In the main thread: log a record a worker forwarded. */
export function logRecord(r: LogRecord): void {
  const { component, ...rest } = r.bindings;
  const l = logger(typeof component === 'string' ? component : 'worker');
  const obj = typeof r.obj === 'object' && r.obj !== null ? { ...rest, ...r.obj } : { ...rest, value: r.obj };
  const fn = (l as unknown as Record<string, (o: unknown, m?: string) => void>)[r.level in LEVELS ? r.level : 'info'];
  fn?.(obj, r.msg);
}

function forwarder(post: (r: LogRecord) => void, min: number, bindings: Record<string, unknown>): Logger {
  const at = (level: string) => (obj: unknown, msg?: string) => {
    if ((LEVELS[level] ?? 0) < min) return;
    if (typeof obj === 'string' && msg === undefined) { msg = obj; obj = {}; }
    // Errors do not survive structured cloning with their message: send plain data.
    const plain = obj instanceof Error ? { err: { message: obj.message, name: obj.name } } : obj;
    post({ level, bindings, obj: plain, ...(msg !== undefined ? { msg } : {}) });
  };
  const l = {
    trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal'),
    child: (b: Record<string, unknown>) => forwarder(post, min, { ...bindings, ...b }),
    isLevelEnabled: (level: string) => (LEVELS[level] ?? 0) >= min,
    level: Object.keys(LEVELS).find((k) => LEVELS[k] === min) ?? 'warn',
  };
  return l as unknown as Logger;
}

/**
 * A logger for one component. It resolves the root at each call, so module-level
 * `const log = logger('x')` still follows a later configureLogging().
 */
export function logger(component: string): Logger {
  let cached: Logger | undefined;
  let cachedRoot: Logger | undefined;
  const current = (): Logger => {
    const r = root();
    if (cachedRoot !== r) { cachedRoot = r; cached = r.child({ component }); }
    return cached!;
  };
  return new Proxy({} as Logger, {
    get(_t, prop) {
      // Below the level, before pino started: nothing to load (most CLI commands log nothing).
      if (!rootLogger && typeof prop === 'string') {
        const n = LEVELS[prop];
        const min = minLevel ??= LEVELS[levelOf(settings)] ?? 40;
        if (n !== undefined && prop !== 'silent' && n < min) return noop;
        if (prop === 'isLevelEnabled') return (level: string) => (LEVELS[level] ?? 0) >= min;
      }
      const l = current();
      const v = (l as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === 'function' ? (v as Function).bind(l) : v;
    },
  });
}

const noop = (): void => {};
