// Logging starts pino only for a record that passes the level: a command that logs nothing
// never loads it (nor creates its --log-file), and the level still applies from the start.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configureLogging, logger } from '../../src/log/index.js';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'groot-log-')); });
afterEach(() => { configureLogging({}); rmSync(dir, { recursive: true, force: true }); });

const lines = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

test('records below the level write nothing, not even the log file; the first one at the level does', () => {
  const file = join(dir, 'sub', 'groot.log');
  configureLogging({ level: 'warn', file });
  const log = logger('test');
  log.debug({ a: 1 }, 'quiet');
  log.info('quiet too');
  expect(log.isLevelEnabled('info')).toBe(false);
  expect(log.isLevelEnabled('warn')).toBe(true);
  expect(existsSync(file)).toBe(false);
  log.warn({ password: 'hunter2', n: 2 }, 'loud');
  const got = lines(file);
  expect(got).toHaveLength(1);
  expect(got[0]).toMatchObject({ level: 40, component: 'test', msg: 'loud', n: 2 });
  expect(JSON.stringify(got[0])).not.toContain('hunter2'); // redaction holds on the lazy path
});

test('a later configureLogging applies to loggers made before it', () => {
  const log = logger('early');
  const file = join(dir, 'groot.log');
  configureLogging({ level: 'debug', file });
  log.debug('now it counts');
  expect(lines(file)[0]).toMatchObject({ level: 20, component: 'early', msg: 'now it counts' });
  configureLogging({ level: 'error', file });
  log.warn('dropped');
  expect(lines(file)).toHaveLength(1);
});
