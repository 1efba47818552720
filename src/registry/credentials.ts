// Credentials per registry host: explicit --username/--password for the image's registry,
// and a Docker config.json-style file (auths[host].auth | username/password | identitytoken).
// Messages name the file and the host, never the file's content.
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors/index.js';
import type { Credentials } from '../image/types.js';

export interface HostCredentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker login against a token server that issues them). */
  identityToken?: string;
}

const HUB = 'registry-1.docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** "https://index.docker.io/v1/" -> "registry-1.docker.io"; "HTTP://Reg:5000/x" -> "reg:5000". */
export function normalizeHost(key: string): string {
  const host = key.trim().toLowerCase().replace(/^[a-z][a-z0-9+.-]*:\/\//, '').replace(/\/.*$/, '');
  return HUB_ALIASES.has(host) ? HUB : host;
}

export type CredentialStore = Map<string, HostCredentials>;

function bad(path: string, problem: string): InvalidArgumentError {
  return new InvalidArgumentError(`credentials file ${path}: ${problem}`);
}

export async function loadCredentialsFile(path: string): Promise<CredentialStore> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw bad(path, code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // No cause attached: JSON.parse quotes the text it choked on, which may be a secret.
    throw bad(path, 'is not valid JSON');
  }
  const auths = (doc as { auths?: unknown })?.auths;
  const store: CredentialStore = new Map();
  if (auths === undefined) return store;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) throw bad(path, '"auths" is not an object');
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (typeof entry !== 'object' || entry === null) throw bad(path, `auths[${JSON.stringify(key)}] is not an object`);
    const e = entry as Record<string, unknown>;
    const c: HostCredentials = {};
    if (typeof e.auth === 'string' && e.auth !== '') {
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) throw bad(path, `auths[${JSON.stringify(key)}].auth is not base64 of "username:password"`);
      c.username = decoded.slice(0, colon);
      c.password = decoded.slice(colon + 1);
    } else if (typeof e.username === 'string' && e.username !== '') {
      c.username = e.username;
      c.password = typeof e.password === 'string' ? e.password : '';
    }
    if (typeof e.identitytoken === 'string' && e.identitytoken !== '') c.identityToken = e.identitytoken;
    if (c.username !== undefined || c.identityToken !== undefined) store.set(normalizeHost(key), c);
  }
  return store;
}

/**
 * Who to be on `host`. Explicit credentials apply to the image's own registry only, so
 * that a mirror or a redirect target never sees them; the file applies to the hosts it names.
 */
export function credentialsFor(host: string, registry: string, explicit: Credentials | undefined, file: CredentialStore | undefined): HostCredentials | undefined {
  const h = normalizeHost(host);
  if (explicit && h === normalizeHost(registry)) return { username: explicit.username, password: explicit.password };
  return file?.get(h);
}
