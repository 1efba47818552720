// Bundle the compiled CLI (dist/cli/main.js) and the unpack worker (dist/layer/worker.js)
// into one CommonJS file each under dist/bundle/. Every `groot` command is a new process:
// resolving and compiling ~170 ES modules one by one cost ~35 ms of each (measured on a
// warm create: 210 -> 175 ms), and a worker pays it again when it starts.
//   node hack/bundle.mjs        (npm run build runs it after tsc)
// CommonJS, not an ES module bundle: V8 compiles an ES module's whole source eagerly
// (measured: 0.75 s for the same bundle as ESM). Packages that are native (koffi), loaded
// lazily by createRequire (pino, yaml, fzstd, undici's internal files), ES-only
// (@kubernetes/client-node) or the controller's own (below) stay in node_modules. import.meta.url becomes the bundle's own
// URL: dist/bundle/ sits as deep as dist/cli/, so paths made from it stay the same.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // chokidar and prom-client are the controller's alone: left out, a CLI command does not
  // parse their ~230 KB; the controller requires them from node_modules when it starts.
  external: ['koffi', 'pino', 'yaml', 'fzstd', 'undici', '@kubernetes/client-node', 'chokidar', 'prom-client'],
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  legalComments: 'none',
};
await Promise.all([
  // groot.cjs is the launcher (src/launch/main.ts): it compiles main.cjs and undici.cjs
  // through V8's code cache (src/launch/code-cache.ts).
  build({ ...common, entryPoints: [join(repo, 'dist/launch/main.js')], outfile: join(repo, 'dist/bundle/groot.cjs') }),
  build({ ...common, entryPoints: [join(repo, 'dist/cli/main.js')], outfile: join(repo, 'dist/bundle/main.cjs') }),
  build({ ...common, entryPoints: [join(repo, 'dist/layer/worker.js')], outfile: join(repo, 'dist/bundle/worker.cjs') }),
  // undici's Agent, request and connector in one file (hack/undici-entry.cjs says why);
  // the bundles load it, the compiled dist/ loads undici from node_modules.
  // node:http2 is left out (~10 ms of node internals per process): groot offers only
  // HTTP/1.1 in ALPN, and undici falls back by itself when it cannot load http2.
  build({
    ...common, external: [], define: {}, banner: {}, entryPoints: [join(repo, 'hack/undici-entry.cjs')], outfile: join(repo, 'dist/bundle/undici.cjs'),
    plugins: [{
      name: 'no-http2',
      setup(b) {
        b.onResolve({ filter: /^(node:)?http2$/ }, () => ({ path: 'http2', namespace: 'no-http2' }));
        b.onLoad({ filter: /.*/, namespace: 'no-http2' }, () => ({ contents: "throw new Error('node:http2 is not bundled: groot speaks HTTP/1.1 to registries')", loader: 'js' }));
      },
    }],
  }),
]);
