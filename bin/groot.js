#!/usr/bin/env node
// The CLI runs from one bundled file (hack/bundle.mjs, made by `npm run build`): a command
// is a new process each time, and loading the ~170 modules of dist/ one by one cost ~35 ms
// of every one. Loaded with require, not import: Node would scan the bundle's source for
// named exports first.
import { createRequire } from 'node:module';

createRequire(import.meta.url)('../dist/bundle/groot.cjs');
