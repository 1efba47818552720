// undici's HTTP parser (llhttp, WebAssembly), compiled by this thread before its first
// exchange, on V8's baseline tier for good (sys/v8-flags.ts withBaselineWasm says why).
// undici compiles the same bytes again at its first connection and V8 hands it this
// compiled module from its cache, so the bytes must be the ones undici picks (its
// lib/dispatcher/client-h1.js lazyllhttp: the SIMD build, except on ppc64 before Node 24.12
// or with UNDICI_NO_WASM_SIMD=1). Kept referenced: V8's
// cache holds a module only while one of its compiles is alive.
import { createRequire } from 'node:module';
import { withBaselineWasm } from '../sys/v8-flags.js';

/** Only held, so that V8's cache keeps it for undici's compile. */
let compiled: WebAssembly.Module | undefined;
let tried = false;

function simd(): boolean {
  if (process.env.UNDICI_NO_WASM_SIMD === '1') return false;
  if (process.env.UNDICI_NO_WASM_SIMD === '0') return true;
  if (process.arch !== 'ppc64') return true;
  const [major = 0, minor = 0] = process.versions.node.split('.').map((n) => parseInt(n, 10));
  return major > 24 || (major === 24 && minor >= 12);
}

function parserBytes(require: NodeJS.Require, fromBundle: boolean): BufferSource {
  const s = simd();
  if (fromBundle) return (require('./undici.cjs') as { llhttp(simd: boolean): BufferSource }).llhttp(s);
  return require(s ? 'undici/lib/llhttp/llhttp_simd-wasm.js' : 'undici/lib/llhttp/llhttp-wasm.js') as BufferSource;
}

/** Compile the parser in this thread, once; a failure leaves it to undici. */
export function compileParser(): void {
  if (tried) return;
  tried = true;
  try {
    const require = createRequire(import.meta.url);
    const bytes = parserBytes(require, import.meta.url.endsWith('.cjs'));
    compiled = withBaselineWasm(() => new WebAssembly.Module(bytes));
  } catch {
    // undici compiles it as it would have; only slower to run
  }
}
