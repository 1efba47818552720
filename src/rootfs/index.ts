// The engine factory: the CLI and the controller get an Engine only from here.
import type { Engine } from './types.js';
export * from './types.js';

export interface EngineOptions {
  storePath: string;
  /** Quota backend to use: detected from the store's filesystem when left out. */
  quota?: 'xfs' | 'btrfs' | 'none';
}

export async function openEngine(_opts: EngineOptions): Promise<Engine> {
  throw new Error('engine not implemented yet');
}
