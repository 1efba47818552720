// `init-store --rootless USER:GROUP`: id mappings from the system's subordinate id files.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';
import type { IdRange } from '../layer/id-map.js';
import type { StoreNamespace } from '../store/namespace.js';

/**
 * `--rootless USER:GROUP`: map container root to the user and ids 1.. to the user's
 * subordinate range, from /etc/subuid and /etc/subgid (GrootFS's behaviour).
 */
export async function rootlessNamespace(spec: string, etc = '/etc'): Promise<StoreNamespace> {
  const [user, group] = spec.split(':');
  if (!user || !group) throw new InvalidArgumentError(`invalid argument: --rootless ${JSON.stringify(spec)} is not <user>:<group>`);
  const uid = await lookupId(join(etc, 'passwd'), user, 'user');
  const gid = await lookupId(join(etc, 'group'), group, 'group');
  return {
    uidMappings: [{ containerID: 0, hostID: uid, size: 1 }, ...(await subIds(join(etc, 'subuid'), user, uid))],
    gidMappings: [{ containerID: 0, hostID: gid, size: 1 }, ...(await subIds(join(etc, 'subgid'), group, gid))],
  };
}

async function lookupId(file: string, name: string, what: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && /^\d+$/.test(f[2] ?? '')) return Number(f[2]);
  }
  throw new InvalidArgumentError(`invalid argument: --rootless: no ${what} named ${JSON.stringify(name)} in ${file}`);
}

async function subIds(file: string, name: string, id: number): Promise<IdRange[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const out: IdRange[] = [];
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if ((who === name || who === String(id)) && /^\d+$/.test(start ?? '') && /^\d+$/.test(count ?? '')) {
      out.push({ containerID: 1 + out.reduce((s, m) => s + m.size, 0), hostID: Number(start), size: Number(count) });
    }
  }
  return out;
}
