/**
 * A quota backend: the four verbs every filesystem's quota comes down to.
 * `dir` is a root filesystem's own directory in the store (images/<id>), which holds its
 * upper and work dirs; the backend may need to create it itself (btrfs: a subvolume).
 */
export interface QuotaBackend {
  readonly kind: 'xfs' | 'btrfs' | 'none';
  /** Create `dir` so that everything written below it is accounted (project id, subvolume). */
  assign(dir: string): Promise<void>;
  /** Hard limit in bytes on what is written below dir; 0 removes the limit. */
  setLimit(dir: string, bytes: number): Promise<void>;
  /** Bytes used below dir, as the quota sees them. */
  usage(dir: string): Promise<number>;
  /** Forget dir's accounting and remove what `assign` created (the caller removes the contents). */
  release(dir: string): Promise<void>;
}
