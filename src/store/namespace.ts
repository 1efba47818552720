// <store>/meta/namespace.json: the uid/gid mappings a store was made with (init-store
// --uid-mapping/--gid-mapping/--rootless). Fixed for the store's life: every volume in it is
// unpacked with them (layer/id-map.ts), so a layer cached once serves every rootfs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../errors/index.js';
import type { IdMap, IdRange } from '../layer/index.js';

export interface StoreNamespace { uidMappings: IdRange[]; gidMappings: IdRange[] }

export function namespaceFile(storePath: string): string {
  return join(storePath, 'meta', 'namespace.json');
}

function ranges(v: unknown, file: string, field: string): IdRange[] {
  if (v === undefined) return [];
  const ok = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!Array.isArray(v) || !v.every((r) => r && ok(r.containerID) && ok(r.hostID) && ok(r.size) && r.size > 0)) {
    throw new StoreError(`${file}: ${field} must be a list of {containerID, hostID, size} with whole numbers (size above 0)`);
  }
  return v.map((r: IdRange) => ({ containerID: r.containerID, hostID: r.hostID, size: r.size }));
}

/** The store's mappings; undefined when it records none (a store made before init-store wrote the file). */
export function readNamespace(storePath: string): StoreNamespace | undefined {
  const file = namespaceFile(storePath);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StoreError(`store ${storePath}: cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  let doc: Partial<Record<keyof StoreNamespace, unknown>>;
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (e) {
    throw new StoreError(`store ${storePath}: ${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  return { uidMappings: ranges(doc.uidMappings, file, 'uidMappings'), gidMappings: ranges(doc.gidMappings, file, 'gidMappings') };
}

export function idMapOf(ns: StoreNamespace | undefined): IdMap | undefined {
  if (!ns || (ns.uidMappings.length === 0 && ns.gidMappings.length === 0)) return undefined;
  return { uid: ns.uidMappings, gid: ns.gidMappings };
}
