// How a tar entry name becomes a path inside the layer directory.
//
// The rule (one rule for every name, including hardlink targets and whiteouts):
// - Leading "/" is stripped, as GNU tar and containerd do: absolute names are confined to
//   the layer. Empty and "." components are dropped.
// - Any ".." component is refused (GNU tar refuses such members too); a layer never needs
//   one, and refusing is simpler to get right than resolving.
// - A NUL byte is refused.
// The writer then refuses any parent component that is not a real directory of this layer
// (a symlink, even one the layer itself made, is never followed): see writer.ts.

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
/** aufs bookkeeping names (".wh..wh.plnk", ".wh..wh.orph"): not files of the image. */
export const AUFS_META_PREFIX = '.wh..wh.';

export type NameProblem = 'dotdot' | 'nul';

/** The components of a cleaned entry name ([] is the layer root), or the problem with it. */
export function splitEntryName(name: string): string[] | NameProblem {
  if (name.includes('\0')) return 'nul';
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') return 'dotdot';
    parts.push(p);
  }
  return parts;
}

/** A byte-string name as a person reads it (UTF-8), quoted. */
export function showName(name: string): string {
  return JSON.stringify(Buffer.from(name, 'latin1').toString('utf8'));
}
