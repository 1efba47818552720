import type { Readable } from 'node:stream';

export interface Platform { os: string; architecture: string; variant?: string }

/** One layer of a resolved image, base first. */
export interface LayerRef {
  /** Digest of the blob as stored/transferred (compressed). For rootfs tarballs: a synthetic id. */
  digest: string;
  /** Digest of the uncompressed tar, from the image config (rootfs.diff_ids). */
  diffID: string;
  /** Blob size in bytes as the manifest declares it; -1 when unknown. */
  size: number;
  mediaType: string;
  /** OCI chain ID (sha256 of parent chainID + " " + diffID): the volume key in the store. */
  chainID: string;
  /**
   * False only for sources that carry no digests (a plain rootfs tarball): its ids are
   * derived from path, size and mtime, the way GrootFS keys local tarballs.
   */
  verifiable: boolean;
}

/** The parts of an OCI image config groot uses, plus the raw JSON. */
export interface ImageConfig {
  env: string[];
  user: string;
  workingDir: string;
  raw: Record<string, unknown>;
}

export interface ResolvedImage {
  /** The source string as given. */
  source: string;
  /** Manifest digest (sha256:...). For a tarball, the synthetic layer digest. */
  digest: string;
  config: ImageConfig;
  layers: LayerRef[];
  /** Sum of layer sizes (compressed) where known. */
  compressedSize: number;
}

export interface BlobProgress { (bytes: number): void }

export interface OpenLayerOptions {
  signal?: AbortSignal;
  /** Called with the number of new bytes each time some arrive (for progress). */
  onBytes?: BlobProgress;
}

export interface ResolveHooks {
  /**
   * The image for a manifest digest when the caller already has everything it needs
   * (its store holds the image): a remote source then skips fetching the config.
   */
  cached?: (manifestDigest: string) => Promise<ResolvedImage | undefined>;
}

/** Where images come from: an OCI layout, a tarball, a registry. */
export interface ImageSource {
  resolve(signal?: AbortSignal, hooks?: ResolveHooks): Promise<ResolvedImage>;
  /** The layer's blob bytes exactly as stored (compressed or not). Verification is the caller's job. */
  openLayer(layer: LayerRef, opts?: OpenLayerOptions): Promise<Readable>;
  /**
   * How another thread can open this source's layers itself (openImageSource(source,
   * options).openLayer(layer)), so their bytes never pass through this one; undefined when
   * it cannot.
   */
  portable?(): PortableSource | undefined;
  /** Load what opening a layer needs (code, a credentials file) ahead of the first openLayer. */
  prepare?(): Promise<void>;
  /** Hosts this source found to answer on plain http, and on https (registry sources). */
  schemesFound?(): { http: string[]; https: string[] };
  close(): Promise<void>;
}

/** A source as plain data: what a worker thread opens again on its side. */
export interface PortableSource {
  source: string;
  /** Only the options that are data (no callbacks, no signal). */
  options: SourceOptions;
}

export interface Credentials { username: string; password: string }

export interface SourceOptions {
  platform?: Platform;
  credentials?: Credentials;
  /** Path to a Docker config.json-style credentials file. */
  credentialsFile?: string;
  /** Hosts (host or host:port) that may use plain HTTP or unverified TLS. */
  insecureRegistries?: string[];
  /** registry host -> mirror base URLs tried before it. */
  mirrors?: Record<string, string[]>;
  /** Parallel blob downloads (registry sources). */
  concurrency?: number;
  /**
   * Insecure hosts found to answer plain http before (the store remembers them): tried on
   * http first, then as usual (https, then http) if that fails. Registry sources only.
   */
  plainHttpHosts?: string[];
}
