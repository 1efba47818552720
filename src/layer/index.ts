// Layer unpacking: the hot path and the security boundary. See apply.ts and writer.ts.
export { applyLayer } from './apply.js';
export { createBudget, type UnpackBudget } from './budget.js';
export { idMapper, type IdMap, type IdRange } from './id-map.js';
export type { ApplyOptions, ApplyResult, LayerExpectation } from './types.js';
export { TarReader, type TarHeader, type TarSink, type EntryType } from './tar-reader.js';
export { detectCompression, declaredCompression, gzipImpl, type Compression } from './compression.js';
export { UnpackPool, defaultWorkers, SPAWN_MIN_BYTES, type PoolApplyOptions } from './pool.js';
