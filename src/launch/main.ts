// The CLI's entry in the bundle (dist/bundle/groot.cjs, hack/bundle.mjs): the bundled
// program (main.cjs beside it) compiled through V8's code cache (code-cache.ts).
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useCodeCache } from './code-cache.js';

const here = fileURLToPath(import.meta.url);
if (process.env.GROOT_CODE_CACHE !== '0') useCodeCache(dirname(here));
createRequire(here)('./main.cjs');
