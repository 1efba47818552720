// `groot describe image|rootfs NAME`: kubectl-describe style, from the status files.
import { age, DEFAULT_NAMESPACE, type GrootObject } from '../api/index.js';
import { StatusFiles, type RecordedEvent } from '../controller/status-files.js';
import { kindOf, renderTable } from './get.js';

/** "diskLimitBytes" -> "Disk Limit Bytes", "uid" -> "UID" (as kubectl's describer does). */
export function title(key: string): string {
  if (key === 'uid' || key === 'UID') return 'UID';
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Nested fields, two spaces per level, values aligned within a level. */
export function describeValue(v: Record<string, unknown>, indent = 0): string {
  const pad = ' '.repeat(indent);
  const keys = Object.keys(v).filter((k) => v[k] !== undefined && v[k] !== null).sort();
  const scalarWidth = Math.max(0, ...keys.filter((k) => !isMap(v[k]) && !Array.isArray(v[k])).map((k) => title(k).length + 1));
  let out = '';
  for (const k of keys) {
    const val = v[k];
    if (isMap(val)) {
      out += `${pad}${title(k)}:\n${describeValue(val, indent + 2)}`;
    } else if (Array.isArray(val)) {
      out += `${pad}${title(k)}:\n`;
      for (const item of val) {
        if (isMap(item)) out += describeValue(item, indent + 2);
        else out += `${pad}  ${String(item)}\n`;
      }
    } else {
      out += `${pad}${(title(k) + ':').padEnd(scalarWidth + 2)}${String(val)}\n`;
    }
  }
  return out;
}

function labelsBlock(name: string, m: Record<string, string> | undefined, sep: string): string {
  const entries = Object.entries(m ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return `${name.padEnd(14)}<none>\n`;
  return entries.map(([k, v], i) => `${(i === 0 ? name : '').padEnd(14)}${k}${sep}${v}`).join('\n') + '\n';
}

export function describeObject(obj: GrootObject, events: RecordedEvent[], now = Date.now()): string {
  const md = obj.metadata;
  let out = '';
  out += `${'Name:'.padEnd(14)}${md.name}\n`;
  out += `${'Namespace:'.padEnd(14)}${md.namespace ?? DEFAULT_NAMESPACE}\n`;
  out += labelsBlock('Labels:', md.labels, '=');
  out += labelsBlock('Annotations:', md.annotations, ': ');
  out += `${'API Version:'.padEnd(14)}${obj.apiVersion}\n`;
  out += `${'Kind:'.padEnd(14)}${obj.kind}\n`;
  const { name: _n, namespace: _ns, labels: _l, annotations: _a, ...restMeta } = md;
  out += `Metadata:\n${describeValue(restMeta as Record<string, unknown>, 2)}`;
  out += `Spec:\n${describeValue((obj.spec ?? {}) as unknown as Record<string, unknown>, 2)}`;
  if (obj.status) out += `Status:\n${describeValue(obj.status as Record<string, unknown>, 2)}`;
  if (!events.length) return out + 'Events:       <none>\n';
  const rows = [['Type', 'Reason', 'Age', 'From', 'Message'], ['----', '------', '----', '----', '-------']];
  for (const e of events) {
    const a = e.count > 1 ? `${age(e.lastTimestamp, now)} (x${e.count} over ${age(e.firstTimestamp, now)})` : age(e.lastTimestamp, now);
    rows.push([e.type, e.reason, a, 'groot', e.message]);
  }
  return out + 'Events:\n' + renderTable(rows, 2).split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');
}

export async function describe(storePath: string, kindArg: string, name: string, namespace = DEFAULT_NAMESPACE): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const kind = kindOf(kindArg);
  const files = new StatusFiles(storePath);
  const obj = await files.readObject(kind, namespace, name);
  if (!obj) return { stdout: '', stderr: `Error from server (NotFound): ${kind === 'Image' ? 'images' : 'rootfses'}.groot.dev "${name}" not found\n`, exitCode: 1 };
  return { stdout: describeObject(obj, await files.readEvents(kind, namespace, name)), stderr: '', exitCode: 0 };
}
