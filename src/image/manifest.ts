// Manifest and index parsing, shared by OCI layouts and the registry client.
// Everything is checked against the specs before use: digests, sizes, media types.
import { InvalidImageError } from '../errors/index.js';
import { digestProblem } from './digest.js';
import { CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, MT, bareMediaType, unsupportedLayerReason } from './media-types.js';
import type { Platform } from './types.js';

export interface DescriptorPlatform extends Platform {
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: DescriptorPlatform;
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export type ParsedManifest = ImageManifest | ImageIndex;

/** Registries and layouts cap manifests at a few MiB; anything bigger is refused unread. */
export const MAX_MANIFEST_BYTES = 4 << 20;
export const MAX_CONFIG_BYTES = 16 << 20;

// Content types that say nothing about which manifest it is (some registries send these).
const GENERIC_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream', 'binary/octet-stream']);
// RFC 6838 type/subtype.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function invalid(where: string, problem: string, cause?: unknown): InvalidImageError {
  return new InvalidImageError(`${where}: ${problem}`, cause === undefined ? undefined : { cause });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse JSON bytes into an object, or throw InvalidImageError naming `where` and `what`. */
export function parseJsonObject(bytes: Uint8Array | string, where: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (e) {
    throw invalid(where, `${what} is not valid JSON (${(e as Error).message})`, e);
  }
  if (!isObject(v)) throw invalid(where, `${what} is not a JSON object`);
  return v;
}

function stringMap(v: unknown, where: string, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) throw invalid(where, `${what} annotations must be an object of strings`);
  return v as Record<string, string>;
}

/** Validate one descriptor (config, layer or index entry). `what` names it in messages. */
export function parseDescriptor(v: unknown, where: string, what: string): Descriptor {
  if (!isObject(v)) throw invalid(where, `${what} is not a descriptor object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || !MEDIA_TYPE.test(mediaType)) throw invalid(where, `${what} has an invalid mediaType ${JSON.stringify(mediaType)}`);
  const problem = digestProblem(digest);
  if (problem) throw invalid(where, `${what} digest ${JSON.stringify(digest)} ${problem}`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(where, `${what} ${digest as string} has an invalid size ${JSON.stringify(size)}`);
  const d: Descriptor = { mediaType, digest: digest as string, size };
  if (v.urls !== undefined && v.urls !== null) {
    if (!Array.isArray(v.urls) || v.urls.some((u) => typeof u !== 'string')) throw invalid(where, `${what} urls must be an array of strings`);
    d.urls = v.urls as string[];
  }
  const annotations = stringMap(v.annotations, where, what);
  if (annotations) d.annotations = annotations;
  if (v.platform !== undefined && v.platform !== null) {
    const p = v.platform;
    if (!isObject(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string') {
      throw invalid(where, `${what} platform must have string "os" and "architecture"`);
    }
    if (p.variant !== undefined && typeof p.variant !== 'string') throw invalid(where, `${what} platform variant must be a string`);
    d.platform = { ...(p as unknown as DescriptorPlatform) };
  }
  return d;
}

/**
 * Parse a manifest or index. `mediaType` is what the transport said (Content-Type or the
 * referring descriptor); it must agree with the body's own mediaType when both are given.
 * `where` names the source in messages (e.g. "docker://registry/x:tag").
 */
export function parseManifest(
  bytes: Uint8Array | string, mediaType?: string, where = 'manifest', opts: { maxBytes?: number } = {},
): ParsedManifest {
  const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  const max = opts.maxBytes ?? MAX_MANIFEST_BYTES;
  if (length > max) throw invalid(where, `manifest is ${length} bytes, over the ${max}-byte limit`);
  const body = parseJsonObject(bytes, where, 'manifest');
  const declared = mediaType === undefined ? '' : bareMediaType(mediaType);
  const own = body.mediaType;
  if (own !== undefined && typeof own !== 'string') throw invalid(where, 'manifest mediaType is not a string');

  if (body.schemaVersion === 1 || [declared, own].some((t) => t === MT.dockerSchema1 || t === MT.dockerSchema1Signed)) {
    throw invalid(where, 'Docker image manifest schema 1 is unsupported (re-push the image as Docker schema 2 or OCI, e.g. with skopeo copy)');
  }
  if (body.schemaVersion !== 2) throw invalid(where, `manifest schemaVersion ${JSON.stringify(body.schemaVersion)} is unsupported (want 2)`);

  const known = GENERIC_TYPES.has(declared) ? undefined : declared;
  if (known !== undefined && own !== undefined && own !== '' && own !== known) {
    throw invalid(where, `manifest says mediaType ${own} but was served/referenced as ${known}`);
  }
  // OCI manifests may omit mediaType (umoci does); then the structure says what it is.
  const type = known ?? (own || (Array.isArray(body.manifests) ? MT.ociIndex : MT.ociManifest));
  const annotations = stringMap(body.annotations, where, 'manifest');

  if (INDEX_TYPES.includes(type)) {
    if (!Array.isArray(body.manifests)) throw invalid(where, `${type} has no "manifests" array`);
    const manifests = body.manifests.map((m, i) => parseDescriptor(m, where, `index entry ${i}`));
    return { kind: 'index', mediaType: type, manifests, ...(annotations ? { annotations } : {}) };
  }
  if (MANIFEST_TYPES.includes(type)) {
    if (body.config === undefined) throw invalid(where, 'image manifest has no config descriptor');
    const config = parseDescriptor(body.config, where, 'config');
    if (!CONFIG_TYPES.includes(config.mediaType)) {
      throw invalid(where, `config media type ${config.mediaType} is not a container image config (an artifact such as a Helm chart or signature?)`);
    }
    if (!Array.isArray(body.layers)) throw invalid(where, 'image manifest has no "layers" array');
    const layers = body.layers.map((l, i) => {
      const d = parseDescriptor(l, where, `layer ${i}`);
      const reason = unsupportedLayerReason(d.mediaType);
      if (reason) throw invalid(where, `layer ${i} ${d.digest}: media type ${d.mediaType} ${reason}`);
      return d;
    });
    return { kind: 'manifest', mediaType: type, config, layers, ...(annotations ? { annotations } : {}) };
  }
  if (type === MT.ociArtifactManifest) throw invalid(where, 'is an OCI artifact manifest, not a container image');
  throw invalid(where, `unsupported manifest media type ${type}`);
}

/** A descriptor of a manifest or index that groot can follow. */
export function isManifestDescriptor(d: Descriptor): boolean {
  return MANIFEST_TYPES.includes(d.mediaType) || INDEX_TYPES.includes(d.mediaType);
}
