import type { UnpackBudget } from './budget.js';
import type { IdMap } from './id-map.js';

/** What a layer's bytes must match. Any field left out is not checked. */
export interface LayerExpectation {
  /** A name for messages, e.g. "layer 2/5 sha256:abcd… of oci:///img:tag". */
  label: string;
  digest?: string;
  diffID?: string;
  size?: number;
  mediaType?: string;
}

export interface ApplyOptions {
  /** Write whiteouts/opaque markers as user.overlay.* xattrs (rootless overlay, userxattr). */
  userXattrs?: boolean;
  /** Stop with QuotaExceeded-style error once the uncompressed bytes pass this. */
  maxUnpackedBytes?: number;
  /**
   * A byte budget shared by layers unpacked side by side: each uncompressed byte is taken
   * from it, and the layer that overdraws it stops with QuotaExceededError.
   */
  budget?: UnpackBudget;
  /** Called with new compressed bytes consumed (progress). */
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
  /** Map tar uids/gids to host ids (a store made with mappings; id-map.ts). */
  idMap?: IdMap;
}

export interface ApplyResult {
  digest: string;
  diffID: string;
  compressedBytes: number;
  /** Bytes of the uncompressed tar stream. */
  tarBytes: number;
  /** Sum of regular file sizes written (what the volume takes, roughly). */
  unpackedBytes: number;
  entries: number;
  /**
   * Directories the layer did not declare but needed as parents (made 0755 root:root),
   * relative to the layer root, '.' for the root when the layer has no entry for it.
   * Overlay shows the topmost layer's copy of a directory, so the store gives these the
   * attributes of the same directory in the layers below, as a sequential unpack keeps them.
   * Optional: a layer that does not report them is taken to have none.
   */
  implicitDirs?: string[];
}
