// The simple JSONPath subset CRD printer columns use: `.a.b`, `[0]`, `[?(@.k=="v")]`.
// Returns the first match (as the API server's table convertor does) or undefined.

type Step = { field: string } | { index: number } | { filter: { key: string; value: string } };

export function parseJsonPath(path: string): Step[] {
  const steps: Step[] = [];
  let i = 0;
  const p = path.startsWith('{') && path.endsWith('}') ? path.slice(1, -1) : path;
  while (i < p.length) {
    if (p[i] === '.') {
      const m = /^\.([A-Za-z0-9_-]+)/.exec(p.slice(i));
      if (!m) throw new Error(`jsonPath ${path}: bad field at ${i}`);
      steps.push({ field: m[1] });
      i += m[0].length;
    } else if (p[i] === '[') {
      const rest = p.slice(i);
      let m = /^\[(\d+)\]/.exec(rest);
      if (m) { steps.push({ index: Number(m[1]) }); i += m[0].length; continue; }
      m = /^\[\?\(@\.([A-Za-z0-9_-]+)\s*==\s*["']([^"']*)["']\)\]/.exec(rest);
      if (m) { steps.push({ filter: { key: m[1], value: m[2] } }); i += m[0].length; continue; }
      throw new Error(`jsonPath ${path}: unsupported expression at ${i}`);
    } else throw new Error(`jsonPath ${path}: unexpected ${p[i]} at ${i}`);
  }
  return steps;
}

export function evalJsonPath(obj: unknown, path: string): unknown {
  let cur: unknown[] = [obj];
  for (const s of parseJsonPath(path)) {
    const next: unknown[] = [];
    for (const c of cur) {
      if (c === null || c === undefined) continue;
      if ('field' in s) {
        if (typeof c === 'object' && !Array.isArray(c)) next.push((c as Record<string, unknown>)[s.field]);
      } else if ('index' in s) {
        if (Array.isArray(c)) next.push(c[s.index]);
      } else if (Array.isArray(c)) {
        for (const e of c) if (e && typeof e === 'object' && String((e as Record<string, unknown>)[s.filter.key]) === s.filter.value) next.push(e);
      }
    }
    cur = next.filter((x) => x !== undefined);
  }
  return cur[0];
}
