import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { crdFor, crdYaml, PRINTER_COLUMNS, KINDS, PLURAL, SHORT_NAMES } from '../../src/api/index.js';

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');

describe('CRDs', () => {
  test.each(KINDS)('crds/%s file equals what src/api/crds.ts builds', async (kind) => {
    const path = join(root, 'crds', `${PLURAL[kind]}.groot.dev.yaml`);
    if (process.env.GROOT_UPDATE_CRDS === '1') await writeFile(path, crdYaml(kind));
    const text = await readFile(path, 'utf8');
    expect(text).toBe(crdYaml(kind));
    expect(parse(text)).toEqual(crdFor(kind));
  });

  test.each(KINDS)('%s: status subresource, printer columns, shortNames, categories, structural schema', (kind) => {
    const crd = crdFor(kind) as any;
    const v = crd.spec.versions[0];
    expect(crd.metadata.name).toBe(`${PLURAL[kind]}.groot.dev`);
    expect(v.subresources).toEqual({ status: {} });
    expect(v.additionalPrinterColumns.map((c: any) => c.name)).toEqual(PRINTER_COLUMNS[kind].map((c) => c.name));
    expect(v.additionalPrinterColumns.filter((c: any) => !c.priority).map((c: any) => c.name))
      .toEqual(kind === 'Image' ? ['Ready', 'Source', 'Digest', 'Size', 'Age'] : ['Ready', 'Image', 'Digest', 'Usage', 'Age']);
    expect(crd.spec.names.shortNames).toEqual(SHORT_NAMES[kind]);
    expect(crd.spec.names.categories).toEqual(['groot']);
    // Structural: every node has a type; no additionalProperties/any-of escapes.
    const walk = (s: any, path: string) => {
      expect([path, typeof s.type]).toEqual([path, 'string']);
      for (const [k, c] of Object.entries(s.properties ?? {})) walk(c, `${path}.${k}`);
      if (s.items) walk(s.items, `${path}[]`);
    };
    walk(v.schema.openAPIV3Schema, kind);
    expect(v.schema.openAPIV3Schema.properties.spec.required).toEqual(kind === 'Image' ? ['source'] : ['image']);
  });
});
