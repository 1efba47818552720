// `groot get images|rootfs [NAME] [-o json|yaml|wide]`: the drop-in mode's `kubectl get`,
// printing the status files the controller keeps under the store.
import { createRequire } from 'node:module';
import { PRINTER_COLUMNS, age, evalJsonPath, type GrootObject, type Kind, type PrinterColumn } from '../api/index.js';
import { InvalidArgumentError } from '../errors/index.js';
import { StatusFiles } from '../controller/status-files.js';

// yaml takes ~50 ms to load: only `-o yaml` needs it.
const yaml = () => createRequire(import.meta.url)('yaml') as typeof import('yaml');

const KIND_NAMES: Record<string, Kind> = {
  image: 'Image', images: 'Image', gimg: 'Image', 'images.groot.dev': 'Image',
  rootfs: 'RootFS', rootfses: 'RootFS', rfs: 'RootFS', 'rootfses.groot.dev': 'RootFS',
};

export function kindOf(arg: string): Kind {
  const k = KIND_NAMES[arg.toLowerCase()];
  if (!k) throw new InvalidArgumentError(`unknown kind "${arg}": use images or rootfs`);
  return k;
}

export interface GetOptions { output?: string; namespace?: string; allNamespaces?: boolean }

/** A cell as kubectl shows it. */
function cell(obj: GrootObject, c: PrinterColumn, now: number): string {
  const v = evalJsonPath(obj, c.jsonPath);
  if (v === undefined || v === null) return ''; // kubectl leaves a missing cell blank
  if (c.type === 'date') return age(String(v), now);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Columns padded like kubectl's tabwriter (3 spaces between columns). */
export function renderTable(rows: string[][], padding = 3): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + padding))).join('').trimEnd()).join('\n') + '\n';
}

export function table(objs: GrootObject[], kind: Kind, opts: { wide?: boolean; withNamespace?: boolean; now?: number }): string {
  const cols = PRINTER_COLUMNS[kind].filter((c) => opts.wide || !c.priority);
  const now = opts.now ?? Date.now();
  const header = [...(opts.withNamespace ? ['NAMESPACE'] : []), 'NAME', ...cols.map((c) => c.name.toUpperCase())];
  const rows = objs.map((o) => [...(opts.withNamespace ? [o.metadata.namespace ?? 'default'] : []), o.metadata.name, ...cols.map((c) => cell(o, c, now))]);
  return renderTable([header, ...rows]);
}

export function formatObjects(objs: GrootObject[], kind: Kind, name: string | undefined, o: GetOptions): string {
  const output = o.output ?? '';
  if (output === 'json' || output === 'yaml') {
    const value = name ? objs[0] : { apiVersion: 'v1', kind: 'List', items: objs, metadata: { resourceVersion: '' } };
    return output === 'json' ? JSON.stringify(value, null, 4) + '\n' : yaml().stringify(value);
  }
  if (output !== '' && output !== 'wide' && output !== 'name') throw new InvalidArgumentError(`-o ${output}: use json, yaml, wide or name`);
  if (output === 'name') return objs.map((x) => `${kind === 'Image' ? 'image' : 'rootfs'}.groot.dev/${x.metadata.name}`).join('\n') + (objs.length ? '\n' : '');
  return table(objs, kind, { wide: output === 'wide', withNamespace: !!o.allNamespaces });
}

export async function getObjects(storePath: string, kindArg: string, name: string | undefined, o: GetOptions): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const kind = kindOf(kindArg);
  const files = new StatusFiles(storePath);
  const ns = o.namespace ?? 'default';
  let stderr = '';
  const problems = await files.readProblems();
  for (const p of problems?.problems ?? []) {
    // The object, when the problem names one its message does not ("defined again: ...").
    const what = p.object && !p.message.startsWith(p.object) ? `${p.object}: ` : '';
    stderr += `Warning: ${p.where}: ${what}${p.message}\n`;
  }
  if (name) {
    const obj = await files.readObject(kind, ns, name);
    if (!obj) return { stdout: '', stderr: stderr + `Error from server (NotFound): ${kind === 'Image' ? 'images' : 'rootfses'}.groot.dev "${name}" not found\n`, exitCode: 1 };
    return { stdout: formatObjects([obj], kind, name, o), stderr, exitCode: 0 };
  }
  const objs = (await files.listObjects(kind)).filter((x) => o.allNamespaces || (x.metadata.namespace ?? 'default') === ns);
  if (objs.length === 0 && (o.output ?? '') !== 'json' && o.output !== 'yaml') {
    return { stdout: '', stderr: stderr + (o.allNamespaces ? 'No resources found\n' : `No resources found in ${ns} namespace.\n`), exitCode: 0 };
  }
  return { stdout: formatObjects(objs, kind, undefined, o), stderr, exitCode: 0 };
}
