// Mirror URLs as an operator writes them (config files, flags): checked where they are
// read, so a typo fails at start-up naming the key, not at the first pull.
import { InvalidArgumentError } from '../errors/index.js';

/** A mirror base URL: http(s)://host[:port][/path], no credentials; trailing slashes dropped. */
export function checkMirrorUrl(u: string, what: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new InvalidArgumentError(`invalid ${what}: ${JSON.stringify(u)} is not a URL (expected https://host[:port][/path])`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InvalidArgumentError(`invalid ${what}: ${JSON.stringify(u)} must be an http:// or https:// URL`);
  if (url.username || url.password) throw new InvalidArgumentError(`invalid ${what}: mirror URLs carry no credentials (use a credentials file)`);
  return u.replace(/\/+$/, '');
}

/** `HOST=URL` values (repeatable flags); several for one host are tried in order. */
export function parseMirrorFlags(flag: string, values: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`invalid ${flag} ${JSON.stringify(v)}: expected HOST=URL, e.g. docker.io=https://mirror.example.com`);
    const host = v.slice(0, eq);
    (out[host] ??= []).push(checkMirrorUrl(v.slice(eq + 1), `${flag} ${host}`));
  }
  return out;
}

/** A `{host: [url, ...]}` mapping from a config file (a single URL may stand for its list). */
export function checkMirrorMap(value: unknown, key: string, where: string): Record<string, string[]> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`invalid ${where}: ${key} must be a mapping of registry host to a list of mirror URLs`);
  }
  const out: Record<string, string[]> = {};
  for (const [host, urls] of Object.entries(value)) {
    const list = typeof urls === 'string' ? [urls] : urls;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
      throw new InvalidArgumentError(`invalid ${where}: ${key}.${host} must be a list of mirror URLs`);
    }
    out[host] = list.map((u) => checkMirrorUrl(u, `${where}: ${key}.${host}`));
  }
  return out;
}
