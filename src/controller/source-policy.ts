// What an object may make the controller read, by where the object came from. The
// controller runs as root: an object naming `oci:///etc` or `/var/lib/x.tar` has that host
// path read into a root filesystem, and `spec.insecure` turns off TLS verification for a
// registry. Drop-in files live in a directory the operator owns, so they are the operator's
// own word and may name anything (TRUST_ALL). Objects from the Kubernetes API are written
// by whoever RBAC lets create Images/RootFSes, so the operator's lists decide: local
// sources only under `local_source_dirs`, `insecure` only for `insecure_registries`.
// This is policy about origin, not about images: it lives here, not in the engine.
import { realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import { formatSource, parseSource, type SourceRef } from '../image/source-ref.js';
import { InsecureHosts, normalizeInsecureHost } from '../registry/insecure-hosts.js';

/** Ready=False reasons (stable: alerts and scripts match on them). */
export const SOURCE_NOT_ALLOWED = 'SourceNotAllowed';
export const INSECURE_NOT_ALLOWED = 'InsecureNotAllowed';

export interface SourcePolicyOptions {
  /** Directories under which an object may name a local source (oci: layout, rootfs tarball). */
  localSourceDirs?: readonly string[];
  /** Registries for which an object's `insecure: true` counts: "host" (any port) or "host:port". */
  insecureRegistries?: readonly string[];
}

export interface SourceRequest {
  /** The source string the engine would be given. */
  source: string;
  /** Where it was written, for the message ("spec.source", "spec.image"). */
  field: string;
  /** The object's `spec.insecure`. */
  insecure?: boolean;
}

export type SourceVerdict =
  /** `source`: what to give the engine (a local path resolved, so what was checked is what is read). */
  | { allowed: true; source: string }
  | { allowed: false; reason: string; message: string };

export interface SourcePolicy {
  /** `subject` names the object whose spec this is ("Image default/base"). */
  check(subject: string, req: SourceRequest): Promise<SourceVerdict>;
}

/** Drop-ins: the operator's own objects, today's behaviour. */
export const TRUST_ALL: SourcePolicy = {
  check: async (_subject, req) => ({ allowed: true, source: req.source }),
};

/** Objects from the Kubernetes API: only what the operator listed. Defaults allow nothing. */
export function restrictedPolicy(o: SourcePolicyOptions = {}): SourcePolicy {
  const dirs = [...(o.localSourceDirs ?? [])];
  const listedHosts = (o.insecureRegistries ?? []).map(normalizeInsecureHost).filter(Boolean);
  const hosts = new InsecureHosts(listedHosts);
  const listed = (l: readonly string[]) => (l.length ? l.join(', ') : 'none');

  const notAllowed = (subject: string, req: SourceRequest): SourceVerdict => ({
    allowed: false,
    reason: SOURCE_NOT_ALLOWED,
    // The same words whether the path is outside, missing or a symlink out: an object's
    // author learns nothing about the host's files.
    message: `${subject}: ${req.field} ${JSON.stringify(req.source)} is a local path that is not inside a directory this node allows Kubernetes objects to read from (allowed: ${listed(dirs)}); `
      + 'the node\'s operator can allow one with `groot controller --local-source-dir DIR` (config: controller.local_source_dirs), or use a registry source (docker://...)',
  });

  return {
    async check(subject, req) {
      let ref: SourceRef;
      try { ref = parseSource(req.source, '/'); } catch { return notAllowed(subject, req); } // validated before; fail closed
      if (ref.kind === 'docker') {
        if (!req.insecure || [ref.registry, ref.domain].some((h) => hosts.has(h))) return { allowed: true, source: req.source };
        return {
          allowed: false,
          reason: INSECURE_NOT_ALLOWED,
          message: `${subject}: spec.insecure is true, but registry ${JSON.stringify(ref.domain)} is not one this node allows Kubernetes objects to reach without TLS verification (allowed: ${listed(listedHosts)}); `
            + 'the node\'s operator can allow it with `groot controller --insecure-registry HOST` (config: controller.insecure_registries), or remove spec.insecure',
        };
      }
      // Local: the real path (`..` and every symlink resolved) must be inside a real allowed dir.
      let real: string;
      try { real = await realpath(ref.path); } catch { return notAllowed(subject, req); }
      if (!(await insideAny(real, dirs))) return notAllowed(subject, req);
      // Give the engine the resolved path: a symlink swapped after this check is not followed.
      const resolved = formatSource({ ...ref, path: real });
      // An oci: path cannot hold ':' (the tag starts there): a real path with one would be
      // read back as another path, so it is refused rather than rewritten.
      const back = safeParse(resolved);
      if (!back || back.kind !== ref.kind || back.path !== real) return notAllowed(subject, req);
      return { allowed: true, source: resolved };
    },
  };
}

async function insideAny(real: string, dirs: readonly string[]): Promise<boolean> {
  for (const d of dirs) {
    let root: string;
    try { root = await realpath(d); } catch { continue; } // an allowed dir that is not there allows nothing
    if (real === root || real.startsWith(root.endsWith(sep) ? root : root + sep)) return true;
  }
  return false;
}

function safeParse(s: string): SourceRef | undefined {
  try { return parseSource(s, '/'); } catch { return undefined; }
}
