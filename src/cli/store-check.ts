// Whether a store is there. Plain fs calls, so every command can ask before it loads the engine.
import { stat } from 'node:fs/promises';
import { StoreError } from '../errors/index.js';

export async function storeExists(storePath: string): Promise<boolean> {
  try {
    return (await stat(storePath)).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export async function requireStore(storePath: string): Promise<void> {
  if (!(await storeExists(storePath))) throw new StoreError(`Store path ${storePath} is not initialized. Please run init-store.`);
}
