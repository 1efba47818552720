// The certificate authorities a verified registry connection trusts: the system bundle
// (where an operator installs a private registry's CA, and all that Go tools such as
// GrootFS and containerd trust), or Node's bundled roots (Mozilla's) where the system has
// none, plus the files named by NODE_EXTRA_CA_CERTS or GROOT_EXTRA_CA_CERTS.
//
// Built on the first verified TLS connection, not at start-up: parsing a bundle takes
// ~35 ms. Node reads NODE_EXTRA_CA_CERTS (and its whole root store) before any code runs,
// on every command, registry or not, so bin/groot hands it over as GROOT_EXTRA_CA_CERTS.
// Connections to --insecure-registry hosts verify nothing, so they load no CA at all.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SecureContext } from 'node:tls';
import { logger } from '../log/index.js';

const log = logger('registry');
const tls = () => createRequire(import.meta.url)('node:tls') as typeof import('node:tls');

// Where Go's crypto/x509 looks on Linux, in its order.
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/pki/tls/cacert.pem', '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', '/etc/ssl/cert.pem'];

export interface CaFiles {
  /** The system bundle (SSL_CERT_FILE, else the first of Go's paths that exists). */
  system?: string;
  /** Trusted besides it. */
  extra: string[];
}

/** The PEM files to trust, from the environment. */
export function caFiles(env: NodeJS.ProcessEnv = process.env): CaFiles {
  const system = env.SSL_CERT_FILE || SYSTEM_BUNDLES.find((f) => existsSync(f));
  const extra = [...new Set([env.NODE_EXTRA_CA_CERTS, env.GROOT_EXTRA_CA_CERTS].filter((f): f is string => !!f && f !== system))];
  return system ? { system, extra } : { extra };
}

function readPem(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    // As Node does for NODE_EXTRA_CA_CERTS: say so, and go on without it.
    log.warn({ file, error: (e as Error).message }, 'cannot read CA certificates file; not trusting its certificates');
    return undefined;
  }
}

let cached: { key: string; context: SecureContext } | undefined;

/** A TLS context trusting caFiles() (Node's roots when there is no system bundle); one per distinct set of files. */
export function trustedContext(env: NodeJS.ProcessEnv = process.env): SecureContext {
  const files = caFiles(env);
  const key = JSON.stringify(files);
  if (cached?.key === key) return cached.context;
  const system = files.system ? readPem(files.system) : undefined;
  const ca = [...(system !== undefined ? [system] : tls().rootCertificates)];
  for (const f of files.extra) {
    const pem = readPem(f);
    if (pem !== undefined) ca.push(pem);
  }
  cached = { key, context: tls().createSecureContext({ ca }) };
  return cached.context;
}

let unverified: SecureContext | undefined;

/** For connections that verify nothing: no CA parsed (Node's default context loads its whole root store). */
export function unverifiedContext(): SecureContext {
  return (unverified ??= tls().createSecureContext({ ca: [] }));
}
