// Which xattrs of a layer entry reach the file system, and a summary of those that do not.
//
//   trusted.*          dropped: containerd refuses "admin attributes from archive"; among
//                      them trusted.overlay.*, which would forge whiteouts, opaque dirs and
//                      redirects in the overlay mount.
//   user.overlay.*     dropped: overlayfs's own with "userxattr" (rootless stores). Images
//                      built by rootless podman carry user.overlay.origin; dropping it is
//                      what they need and what keeps them from forging overlay state.
//   security.selinux   dropped, as umoci does: a label is the build host's policy, and a
//                      layer must not pick the label its files run with.
//   system.nfs4_acl    dropped, as umoci does: NFS-specific.
//   everything else    applied (security.capability, user.*, system.posix_acl_*).
//
// Text ACLs in PAX records (SCHILY.acl.*) are not xattrs: the tar reader ignores them, as
// containerd does.
import type { Logger } from '../log/index.js';
import { showName } from './paths.js';

interface Dropped {
  count: number;
  why: string;
  first: string;
}

export class XattrFilter {
  private readonly dropped = new Map<string, Dropped>();

  /** The xattrs to apply; the rest are counted for report(). */
  keep(xattrs: [string, Buffer][], entry: string): [string, Buffer][] {
    let out: [string, Buffer][] | undefined;
    for (let i = 0; i < xattrs.length; i++) {
      const name = xattrs[i]![0];
      const why = dropReason(name);
      if (why) {
        out ??= xattrs.slice(0, i);
        this.note(name, why, entry);
      } else if (out) {
        out.push(xattrs[i]!);
      }
    }
    return out ?? xattrs;
  }

  /** Count an xattr that was not applied. */
  note(name: string, why: string, entry: string): void {
    const d = this.dropped.get(name);
    if (d) d.count++;
    else this.dropped.set(name, { count: 1, why, first: entry });
  }

  /** One log line per xattr name that was left out. */
  report(label: string, log: Logger): void {
    for (const [name, d] of this.dropped) {
      const fields = { layer: label, xattr: name, entries: d.count, first: showName(d.first), reason: d.why };
      if (name.startsWith('trusted.') || name.startsWith('user.overlay.')) log.warn(fields, 'layer xattrs not applied');
      else log.debug(fields, 'layer xattrs not applied');
    }
  }
}

function dropReason(name: string): string | undefined {
  if (name.startsWith('trusted.')) return 'trusted.* xattrs from a layer are not applied (overlayfs keeps its own there)';
  if (name.startsWith('user.overlay.')) return 'overlayfs keeps its own state in user.overlay.*';
  if (name === 'security.selinux') return 'SELinux labels belong to the host\'s policy';
  if (name === 'system.nfs4_acl') return 'NFSv4 ACLs belong to NFS';
  return undefined;
}
