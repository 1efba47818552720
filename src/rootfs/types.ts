import type { ImageConfig, Platform, SourceOptions } from '../image/types.js';
import type { IdMap } from '../layer/id-map.js';
export type { IdMap };

export interface LayerProgress { digest: string; bytesDone: number; bytesTotal: number; state: 'waiting' | 'cached' | 'fetching' | 'done' }
export interface PullProgress { bytesDone: number; bytesTotal: number; layers: LayerProgress[] }

export interface PullOptions extends SourceOptions {
  /** Skip digest/diffID checks (GrootFS --skip-layer-validation). Sizes are still checked. */
  skipLayerValidation?: boolean;
  /** Unpack no more than this many bytes in total (inclusive disk limit); 0/undefined = no cap. */
  maxUnpackedBytes?: number;
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
  /**
   * A source pinned by digest (`...@sha256:...`) whose image is whole in the store is used
   * as it is, without asking the registry or layout again: content named by its digest
   * cannot change. For callers that already pulled it with its credentials (the
   * controller's RootFS from an Image), so a registry outage does not stop creates.
   */
  preferCached?: boolean;
  /**
   * The caller expects layers to download (an explicit pull): start the unpack workers
   * while the manifest is fetched rather than after, so they are ready when the first
   * layers stream in. Without it a warm create never pays for a worker.
   */
  eagerWorkers?: boolean;
}

/** An image in the store's cache: enough to build a root filesystem without the source. */
export interface ImageInfo {
  source: string;
  digest: string;
  config: ImageConfig;
  /** Volume keys, base first. */
  chainIDs: string[];
  compressedSize: number;
  /** Sum of the volumes' unpacked sizes. */
  unpackedSize: number;
}

export interface MountSpec { destination: string; type: string; source: string; options: string[] }

/** The runtime-spec fragment `grootfs create` prints. */
export interface RuntimeSpec {
  ociVersion: string;
  process: { user: { uid: number; gid: number }; env: string[]; cwd: string };
  root: { path: string };
  mounts?: MountSpec[];
}

export interface CreateOptions extends PullOptions {
  id: string;
  source: string;
  /** 0 or undefined = no quota. */
  diskLimitBytes?: number;
  excludeImageFromQuota?: boolean;
  /** Default true. False: nothing is mounted and the spec carries the mount. */
  mount?: boolean;
}

export interface RootfsInfo {
  id: string;
  /** <store>/images/<id>/rootfs */
  path: string;
  source: string;
  imageDigest: string;
  chainIDs: string[];
  mount: MountSpec;
  mounted: boolean;
  /** Whether groot mounts it (create --with-mount), so start-up repair knows to remount. */
  wantsMount: boolean;
  diskLimitBytes: number;
  excludeImageFromQuota: boolean;
  createdAt: string;
}

export interface Stats {
  totalBytesUsed: number;
  exclusiveBytesUsed: number;
  quotaSizeBytes: number;
  committedSpaceBytes: number;
}

export interface CleanResult { skipped: boolean; removedVolumes: string[]; removedImages: string[]; freedBytes: number }

/** The engine's public face: what the CLI and the controller call. */
export interface Engine {
  readonly storePath: string;
  /** The uid/gid mappings every layer in this store is unpacked with (init-store); undefined: none. */
  readonly idMap: IdMap | undefined;
  /** Fill the cache. `pin` keeps the image's volumes from GC until unpinned (controller Images). */
  pull(source: string, opts?: PullOptions & { pin?: string }): Promise<ImageInfo>;
  unpin(name: string): Promise<void>;
  create(opts: CreateOptions): Promise<{ spec: RuntimeSpec; rootfs: RootfsInfo }>;
  get(id: string): Promise<RootfsInfo | undefined>;
  list(): Promise<RootfsInfo[]>;
  /** Mount again after a reboot; no-op when mounted or created without mount. */
  remount(id: string): Promise<void>;
  /** False when there was nothing with that id. Accepts an id or a rootfs path. */
  delete(idOrPath: string): Promise<boolean>;
  stats(id: string): Promise<Stats>;
  clean(opts?: { thresholdBytes?: number }): Promise<CleanResult>;
  /** Bytes the store's filesystem can hold. */
  capacity(): Promise<number>;
  close(): Promise<void>;
}

export type { Platform };
