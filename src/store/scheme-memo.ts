// Insecure registry hosts (--insecure-registry) found to answer plain http, remembered for
// the next command: its registry client tries http first for them (registry/client.ts), not
// https first, which on such a host costs a TLS attempt of ~15 ms in every create and pull.
// A memo, not a record: written without fsync, and read leniently; lost, stale or damaged,
// it costs that one TLS attempt again.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../sys/index.js';
import { logger } from '../log/index.js';

const log = logger('store');

interface Memo { plainHttp: string[] }

function file(metaDir: string): string {
  return join(metaDir, 'registry-hosts.json');
}

export function readPlainHttpHosts(metaDir: string): string[] {
  try {
    const m = JSON.parse(readFileSync(file(metaDir), 'utf8')) as Partial<Memo>;
    return Array.isArray(m.plainHttp) ? m.plainHttp.filter((h): h is string => typeof h === 'string') : [];
  } catch {
    return [];
  }
}

/** Update the memo with what a source found (only when that changes it). */
export async function rememberSchemes(metaDir: string, before: string[], found: { http: string[]; https: string[] }): Promise<void> {
  const next = new Set(before);
  for (const h of found.http) next.add(h);
  for (const h of found.https) next.delete(h);
  if (next.size === before.length && before.every((h) => next.has(h))) return;
  try {
    await writeJsonAtomic(file(metaDir), { plainHttp: [...next].sort() } satisfies Memo, { sync: false });
  } catch (e) {
    log.debug({ err: (e as Error).message }, 'could not remember the registry schemes'); // next time, the TLS attempt again
  }
}
