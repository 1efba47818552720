// Pieces of API server behaviour for the fake: label selectors, merge and JSON patch,
// structural-schema defaulting/pruning/validation, printer-column JSONPath, ages.

export type Obj = Record<string, any>;

// ---- label selectors (equality- and set-based) ----
type Req = { key: string; op: '=' | '!=' | 'in' | 'notin' | 'exists' | '!exists'; values: string[] };

export function parseSelector(s: string | null | undefined): Req[] {
  if (!s) return [];
  const reqs: Req[] = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0; let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { parts.push(cur); cur = ''; } else cur += ch;
  }
  if (cur.trim()) parts.push(cur);
  for (const p0 of parts) {
    const p = p0.trim();
    let m;
    if ((m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p))) reqs.push({ key: m[1]!, op: m[2] as 'in', values: m[3]!.split(',').map((x) => x.trim()) });
    else if ((m = /^([^\s!=]+)\s*!=\s*(\S*)$/.exec(p))) reqs.push({ key: m[1]!, op: '!=', values: [m[2]!] });
    else if ((m = /^([^\s!=]+)\s*==?\s*(\S*)$/.exec(p))) reqs.push({ key: m[1]!, op: '=', values: [m[2]!] });
    else if ((m = /^!([^\s!=]+)$/.exec(p))) reqs.push({ key: m[1]!, op: '!exists', values: [] });
    else if ((m = /^([^\s!=]+)$/.exec(p))) reqs.push({ key: m[1]!, op: 'exists', values: [] });
    else throw new Error(`unable to parse requirement: ${p}`);
  }
  return reqs;
}

export function matches(reqs: Req[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case '=': return has && l[r.key] === r.values[0];
      case '!=': return !has || l[r.key] !== r.values[0];
      case 'in': return has && r.values.includes(l[r.key]!);
      case 'notin': return !has || !r.values.includes(l[r.key]!);
      case 'exists': return has;
      case '!exists': return !has;
    }
  });
}

// ---- patches ----
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Obj = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Obj) } : {};
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class PatchError extends Error { constructor(msg: string, readonly code = 422) { super(msg); } }

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer ${path}`);
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function jsonPatch(doc: Obj, ops: Obj[]): Obj {
  let root: any = structuredClone(doc);
  for (const op of ops) {
    const parts = pointer(op.path);
    const last = parts.pop()!;
    let parent: any = root;
    for (const p of parts) {
      parent = Array.isArray(parent) ? parent[Number(p)] : parent?.[p];
      if (parent === undefined) throw new PatchError(`path ${op.path} does not exist`);
    }
    const get = () => (Array.isArray(parent) ? parent[Number(last)] : parent[last]);
    switch (op.op) {
      case 'test':
        if (JSON.stringify(get()) !== JSON.stringify(op.value)) throw new PatchError(`test failed at ${op.path}`);
        break;
      case 'add':
        if (Array.isArray(parent)) { if (last === '-') parent.push(op.value); else parent.splice(Number(last), 0, op.value); } else parent[last] = op.value;
        break;
      case 'replace':
        if (get() === undefined) throw new PatchError(`path ${op.path} does not exist`);
        if (Array.isArray(parent)) parent[Number(last)] = op.value; else parent[last] = op.value;
        break;
      case 'remove':
        if (get() === undefined) throw new PatchError(`path ${op.path} does not exist`);
        if (Array.isArray(parent)) parent.splice(Number(last), 1); else delete parent[last];
        break;
      default: throw new PatchError(`unsupported op ${op.op}`);
    }
  }
  return root;
}

// ---- structural schema: defaults, pruning, validation ----
export function applySchema(value: unknown, schema: Obj, path: string, errors: string[]): unknown {
  if (value === undefined || value === null) return value;
  const t = schema.type;
  if (t === 'object') {
    if (typeof value !== 'object' || Array.isArray(value)) { errors.push(`${path}: Invalid value: "${typeof value}": ${path} in body must be of type object`); return value; }
    const v = value as Obj;
    if (!schema.properties || schema['x-kubernetes-preserve-unknown-fields']) return v;
    const out: Obj = {};
    for (const [k, sub] of Object.entries(schema.properties as Obj)) {
      let x = v[k];
      if (x === undefined && sub.default !== undefined) x = structuredClone(sub.default);
      if (x !== undefined) out[k] = applySchema(x, sub, `${path}.${k}`, errors);
    }
    for (const r of (schema.required ?? []) as string[]) if (out[r] === undefined) errors.push(`${path}.${r}: Required value`);
    return out; // unknown fields pruned
  }
  if (t === 'array') {
    if (!Array.isArray(value)) { errors.push(`${path}: must be of type array`); return value; }
    return value.map((x, i) => (schema.items ? applySchema(x, schema.items, `${path}[${i}]`, errors) : x));
  }
  if (t === 'string') {
    if (typeof value !== 'string') errors.push(`${path}: Invalid value: ${JSON.stringify(value)}: ${path} in body must be of type string`);
    else {
      if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: Unsupported value: ${JSON.stringify(value)}: supported values: ${schema.enum.map((e: string) => JSON.stringify(e)).join(', ')}`);
      if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${path}: Invalid value: "": ${path} in body should be at least ${schema.minLength} chars long`);
      if (schema.pattern && !new RegExp(schema.pattern).test(value)) errors.push(`${path}: Invalid value: ${JSON.stringify(value)}: ${path} in body should match '${schema.pattern}'`);
    }
    return value;
  }
  if (t === 'integer' || t === 'number') {
    if (typeof value !== 'number' || (t === 'integer' && !Number.isInteger(value))) errors.push(`${path}: Invalid value: ${JSON.stringify(value)}: ${path} in body must be of type ${t}`);
    else {
      if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: Invalid value: ${value}: ${path} in body should be greater than or equal to ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: Invalid value: ${value}: ${path} in body should be less than or equal to ${schema.maximum}`);
    }
    return value;
  }
  if (t === 'boolean' && typeof value !== 'boolean') errors.push(`${path}: Invalid value: ${JSON.stringify(value)}: ${path} in body must be of type boolean`);
  return value;
}

// ---- printer columns (an independent reading of the simple JSONPath the CRD uses) ----
export function columnValue(obj: Obj, jsonPath: string): unknown {
  const tokens = jsonPath.match(/\.[A-Za-z0-9_-]+|\[\?\(@\.[A-Za-z0-9_-]+==["'][^"']*["']\)\]|\[\d+\]/g) ?? [];
  let cur: unknown[] = [obj];
  for (const t of tokens) {
    const next: unknown[] = [];
    for (const c of cur as any[]) {
      if (c == null) continue;
      if (t.startsWith('.')) { if (c[t.slice(1)] !== undefined) next.push(c[t.slice(1)]); }
      else if (t.startsWith('[?')) {
        const m = /@\.([^=]+)==["']([^"']*)["']/.exec(t)!;
        if (Array.isArray(c)) for (const e of c) if (e && String(e[m[1]!]) === m[2]) next.push(e);
      } else if (Array.isArray(c)) { const e = c[Number(t.slice(1, -1))]; if (e !== undefined) next.push(e); }
    }
    cur = next;
  }
  return cur[0];
}

export function humanAge(fromIso: string, now = Date.now()): string {
  const s = Math.floor((now - Date.parse(fromIso)) / 1000);
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}
