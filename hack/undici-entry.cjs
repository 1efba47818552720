// The parts of undici the registry client uses (src/registry/transport.ts), bundled by
// hack/bundle.mjs into dist/bundle/undici.cjs: one file instead of ~25 resolved and read
// one by one (measured ~10 ms of every pull/create and of each unpack worker).
// llhttp: the parser's WebAssembly bytes, the very Buffers undici compiles (src/registry/parser.ts).
module.exports = {
  Agent: require('undici/lib/dispatcher/agent.js'),
  request: require('undici/lib/api/api-request.js'),
  buildConnector: require('undici/lib/core/connect.js'),
  llhttp: (simd) => (simd ? require('undici/lib/llhttp/llhttp_simd-wasm.js') : require('undici/lib/llhttp/llhttp-wasm.js')),
};
