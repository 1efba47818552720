// The certificate authorities a verified registry connection trusts: Node's bundled roots
// (Mozilla's), the system bundle (where an operator installs a private registry's CA, and
// where Go tools such as GrootFS and containerd look), and the files named by
// NODE_EXTRA_CA_CERTS or GROOT_EXTRA_CA_CERTS.
//
// Built on the first verified TLS connection, not at start-up: Node reads
// NODE_EXTRA_CA_CERTS before any code runs (~50 ms of every command on a machine that sets
// it, registry or not), so bin/groot hands it over as GROOT_EXTRA_CA_CERTS instead.
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SecureContext } from 'node:tls';
import { logger } from '../log/index.js';

const log = logger('registry');

// Where Go's crypto/x509 looks on Linux, in its order.
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/pki/tls/cacert.pem', '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', '/etc/ssl/cert.pem'];

/** The PEM files to trust besides Node's roots, from the environment. */
export function caFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const system = env.SSL_CERT_FILE || SYSTEM_BUNDLES.find((f) => existsSync(f));
  const extra = [env.NODE_EXTRA_CA_CERTS, env.GROOT_EXTRA_CA_CERTS];
  return [...new Set([system, ...extra].filter((f): f is string => !!f))];
}

let cached: { key: string; context: SecureContext } | undefined;

/** A TLS context trusting Node's roots and caFiles(); made once per distinct set of files. */
export function trustedContext(env: NodeJS.ProcessEnv = process.env): SecureContext {
  const files = caFiles(env);
  const key = files.join('\n');
  if (cached?.key === key) return cached.context;
  const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
  const ca: string[] = [...tls.rootCertificates];
  for (const f of files) {
    try {
      ca.push(readFileSync(f, 'utf8'));
    } catch (e) {
      // As Node does for NODE_EXTRA_CA_CERTS: say so, and go on with the others.
      log.warn({ file: f, error: (e as Error).message }, 'cannot read CA certificates file; not trusting its certificates');
    }
  }
  cached = { key, context: tls.createSecureContext({ ca }) };
  return cached.context;
}
