// import() for code that may run in the launcher's cached bundle (code-cache.ts): a script
// compiled from a V8 code cache loses its dynamic-import callback in Node 20 ("A dynamic
// import callback was not specified"), so there the launcher lends its own import().
export const IMPORT_HOOK = Symbol.for('groot.import');

type Importer = (specifier: string) => Promise<unknown>;

export function importModule<T>(specifier: string): Promise<T> {
  const hook = (globalThis as Record<symbol, unknown>)[IMPORT_HOOK] as Importer | undefined;
  return (hook ? hook(specifier) : import(specifier)) as Promise<T>;
}
