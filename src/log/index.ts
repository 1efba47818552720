// One pino logger for the process. Quiet by default (warn); the CLI raises it with --log-level.
// Logs go to stderr (or --log-file): stdout belongs to the grootfs JSON contract.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

// Credentials are never logged, whatever object they ride on.
const REDACT = ['password', '*.password', 'auth', '*.auth', 'authorization', '*.authorization',
  'headers.authorization', '*.headers.authorization', 'token', '*.token', 'credentials', '*.credentials'];

let root: Logger = pino({ level: process.env.GROOT_LOG_LEVEL ?? 'warn', redact: REDACT }, pino.destination(2));

export function configureLogging(opts: { level?: string; file?: string }): Logger {
  const level = (opts.level ?? process.env.GROOT_LOG_LEVEL ?? 'warn') as LevelWithSilent;
  const dest = opts.file ? pino.destination({ dest: opts.file, append: true, mkdir: true, sync: true }) : pino.destination(2);
  root = pino({ level, redact: REDACT }, dest);
  return root;
}

/**
 * A logger for one component. It resolves the root at each call, so module-level
 * `const log = logger('x')` still follows a later configureLogging().
 */
export function logger(component: string): Logger {
  let cached: Logger | undefined;
  let cachedRoot: Logger | undefined;
  const current = (): Logger => {
    if (cachedRoot !== root) { cachedRoot = root; cached = root.child({ component }); }
    return cached!;
  };
  return new Proxy({} as Logger, {
    get(_t, prop) {
      const l = current();
      const v = (l as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === 'function' ? (v as Function).bind(l) : v;
    },
  });
}
