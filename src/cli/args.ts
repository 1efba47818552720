// Checks and conversions of command-line values. Each error names the flag or argument.
import { isAbsolute, normalize, relative, sep } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';
import type { Platform } from '../image/types.js';
import type { IdRange } from '../layer/id-map.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** A byte count given on the command line: a whole, non-negative number. */
export function parseBytes(flag: string, value: string): number {
  const v = value.trim();
  if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError(`invalid argument: ${flag} must be a whole number of bytes, got ${JSON.stringify(value)}`);
  const n = Number(v);
  if (n < 0) throw new InvalidArgumentError(`invalid argument: ${flag} cannot be negative (${v})`);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`invalid argument: ${flag} is too large (${v})`);
  return n;
}

/** A count of things given on the command line: a whole number, 1 or more. */
export function parseCount(flag: string, v: string, what: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`invalid ${flag} ${JSON.stringify(v)}: expected a whole number of ${what}, 1 or more`);
  return n;
}

/** commander's collector for a repeatable flag. */
export const collect = (v: string, prev?: string[]): string[] => [...(prev ?? []), v];

export function checkLogLevel(level: string, where: string): string {
  const l = level.toLowerCase();
  if (!LOG_LEVELS.includes(l)) throw new InvalidArgumentError(`invalid log level ${JSON.stringify(level)} in ${where}: use one of ${LOG_LEVELS.join(', ')}`);
  return l;
}

/** GrootFS's `--uid-mapping NS:HOST:SIZE` (container id, host id, range size). */
export function parseIdMapping(flag: string, value: string): IdRange {
  const m = /^(\d+):(\d+):(\d+)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`parsing ${flag}: ${JSON.stringify(value)} is not <namespace id>:<host id>:<size>`);
  const [containerID, hostID, size] = [m[1], m[2], m[3]].map(Number);
  const max = 2 ** 32 - 1;
  if (size < 1) throw new InvalidArgumentError(`parsing ${flag}: ${JSON.stringify(value)} has size 0`);
  if (containerID + size - 1 > max || hostID + size - 1 > max) throw new InvalidArgumentError(`parsing ${flag}: ${JSON.stringify(value)} runs past id ${max}`);
  return { containerID, hostID, size };
}

/** `os/arch[/variant]`, as in `linux/arm64/v8`. */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_]+$/i.test(p))) {
    throw new InvalidArgumentError(`invalid argument: --platform ${JSON.stringify(value)} is not os/architecture[/variant]`);
  }
  return { os: parts[0], architecture: parts[1], ...(parts[2] ? { variant: parts[2] } : {}) };
}

/**
 * A rootfs id becomes a directory name under <store>/images, so it may not contain a
 * slash, be `.`/`..`, or hold control characters.
 */
export function checkRootfsId(id: string): string {
  if (id === '') throw new InvalidArgumentError('id was not specified');
  if (id.includes('/')) throw new InvalidArgumentError(`id \`${id}\` contains invalid characters: \`/\``);
  if (id === '.' || id === '..') throw new InvalidArgumentError(`id \`${id}\` is not a valid id`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(id)) throw new InvalidArgumentError(`id ${JSON.stringify(id)} contains control characters`);
  if (Buffer.byteLength(id) > 255) throw new InvalidArgumentError(`id \`${id.slice(0, 32)}…\` is longer than 255 bytes`);
  return id;
}

export type IdLookup = { id: string } | { outside: string };

/**
 * `delete`/`stats` take an id or a path (`<store>/images/<id>` or anything below it),
 * as GrootFS's idfinder does. A path outside the store's images dir is reported, not guessed.
 */
export function idFromIdOrPath(store: string, idOrPath: string): IdLookup {
  if (!idOrPath.includes('/')) return { id: checkRootfsId(idOrPath) };
  if (!isAbsolute(idOrPath)) return { outside: idOrPath };
  const rel = relative(normalize(store) + sep + 'images', normalize(idOrPath));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return { outside: idOrPath };
  return { id: checkRootfsId(rel.split(sep)[0]) };
}
