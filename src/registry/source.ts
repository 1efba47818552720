// docker:// sources: resolve a tag or digest to a ResolvedImage (manifest list -> platform
// manifest -> config), and stream layer blobs. Manifest and config bytes are verified here;
// layer bytes are verified by the consumer while it unpacks them.
import type { Readable } from 'node:stream';
import { DigestMismatchError, InvalidArgumentError, InvalidImageError } from '../errors/index.js';
import { digestOf, parseDigest, verifyBytes } from '../image/digest.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, parseManifest, type Descriptor, type ImageManifest } from '../image/manifest.js';
import { MANIFEST_ACCEPT } from '../image/media-types.js';
import { selectPlatform } from '../image/platform.js';
import { buildResolvedImage } from '../image/resolved.js';
import { parseSource, type DockerSourceRef } from '../image/source-ref.js';
import { portableSource } from '../image/portable.js';
import type { ImageSource, LayerRef, OpenLayerOptions, PortableSource, ResolveHooks, ResolvedImage } from '../image/types.js';
import { throwIfAborted } from '../image/stream.js';
import { logger } from '../log/index.js';
import { Authenticator } from './auth.js';
import { openBlobStream } from './blob-stream.js';
import { RegistryClient } from './client.js';
import { credentialsFor, loadCredentialsFile, type CredentialStore } from './credentials.js';
import { tuningOf, type RegistryHandover, type RegistryOptions, type Tuning } from './options.js';
import { InsecureHosts, Transport, header, readBody } from './transport.js';

const log = logger('registry');

// A manifest list pointing at another list is legal but rare; a loop is refused.
const MAX_INDEX_DEPTH = 4;

export class RegistrySource implements ImageSource {
  readonly ref: DockerSourceRef;
  private readonly t: Tuning;
  private readonly transport: Transport;
  private readonly client: RegistryClient;
  readonly authn: Authenticator;
  private credFile: CredentialStore | undefined;
  private credFileLoaded: Promise<void> | undefined;

  constructor(readonly source: string, private readonly opts: RegistryOptions = {}) {
    const ref = parseSource(source);
    if (ref.kind !== 'docker') throw new InvalidArgumentError(`${source}: not a registry source (want docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST])`);
    this.ref = ref;
    this.t = tuningOf(opts);
    this.transport = new Transport(this.t, new InsecureHosts(opts.insecureRegistries));
    this.authn = new Authenticator(this.transport, (host) => credentialsFor(host, ref.registry, opts.credentials, this.credFile), this.t);
    if (opts.handover?.auth) this.authn.importState(opts.handover.auth);
    this.client = new RegistryClient(source, ref, this.transport, this.authn, this.t, opts.mirrors, opts.handover?.schemes, opts.plainHttpHosts);
  }

  private loadCredentials(): Promise<void> {
    const file = this.opts.credentialsFile;
    if (!file) return Promise.resolve();
    this.credFileLoaded ??= loadCredentialsFile(file).then((s) => { this.credFile = s; });
    return this.credFileLoaded;
  }

  async resolve(signal?: AbortSignal, hooks: ResolveHooks = {}): Promise<ResolvedImage> {
    throwIfAborted(signal, this.source);
    await this.loadCredentials();
    const top = this.ref.digest ?? this.ref.tag ?? 'latest';
    let { bytes, mediaType } = await this.fetchManifest(top, signal);
    let digest = this.ref.digest ?? digestOf(bytes);
    if (this.ref.digest) verifyBytes(bytes, { digest: this.ref.digest }, `${this.source}: manifest`);
    for (let depth = 0; ; depth++) {
      const parsed = parseManifest(bytes, mediaType, `${this.source}: manifest ${digest}`);
      if (parsed.kind === 'manifest') {
        // The caller's store holds this exact manifest's image: no need for its config blob.
        const known = await hooks.cached?.(digest);
        if (known) { log.debug({ source: this.source, digest }, 'manifest known to the store: config not fetched'); return known; }
        return this.finish(digest, parsed, signal);
      }
      if (depth >= MAX_INDEX_DEPTH) throw new InvalidImageError(`${this.source}: manifest lists nest deeper than ${MAX_INDEX_DEPTH} levels`);
      const chosen: Descriptor = selectPlatform(parsed, this.opts.platform, this.source);
      log.debug({ source: this.source, platform: chosen.platform, digest: chosen.digest }, 'picked platform manifest');
      if (chosen.size > MAX_MANIFEST_BYTES) throw new InvalidImageError(`${this.source}: manifest ${chosen.digest} is ${chosen.size} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
      ({ bytes } = await this.fetchManifest(chosen.digest, signal));
      verifyBytes(bytes, chosen, `${this.source}: manifest ${chosen.digest}`);
      mediaType = chosen.mediaType;
      digest = chosen.digest;
    }
  }

  private async fetchManifest(reference: string, signal?: AbortSignal): Promise<{ bytes: Buffer; mediaType: string | undefined }> {
    const what = `manifest ${reference}`;
    const res = await this.client.get(`manifests/${reference}`, { accept: MANIFEST_ACCEPT, signal, what, kind: 'manifest' });
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, `${this.source}: ${what}`);
    // The registry's own digest for what it sent, when it uses an algorithm we can check.
    const claimed = header(res.headers, 'docker-content-digest');
    if (claimed && /^sha(256|512):/.test(claimed) && !reference.includes(':')) {
      const actual = digestOf(bytes, parseDigest(claimed, `${this.source}: Docker-Content-Digest`).algorithm);
      if (actual !== claimed) throw new DigestMismatchError(`${this.source}: ${what}: registry says digest ${claimed}, bytes hash to ${actual}`);
    }
    return { bytes, mediaType: header(res.headers, 'content-type') };
  }

  private async finish(digest: string, manifest: ImageManifest, signal?: AbortSignal): Promise<ResolvedImage> {
    const cfg = manifest.config;
    if (cfg.size > MAX_CONFIG_BYTES) throw new InvalidImageError(`${this.source}: config ${cfg.digest} is ${cfg.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
    const what = `config ${cfg.digest}`;
    const res = await this.client.get(`blobs/${cfg.digest}`, { signal, what, kind: 'blob' });
    const configBytes = await readBody(res, MAX_CONFIG_BYTES, `${this.source}: ${what}`);
    const image = buildResolvedImage(this.source, digest, manifest, configBytes);
    log.debug({ source: this.source, digest, layers: image.layers.length }, 'resolved registry image');
    return image;
  }

  /** This source as data, with the tokens and schemes it has learned so far. */
  portable(): PortableSource {
    const handover: RegistryHandover = { auth: this.authn.exportState(), schemes: this.client.knownSchemes() };
    return portableSource(this.source, { ...this.opts, handover });
  }

  prepare(): Promise<void> {
    return this.loadCredentials();
  }

  schemesFound(): { http: string[]; https: string[] } {
    const known = this.client.knownSchemes();
    return { http: known.filter(([, s]) => s === 'http:').map(([h]) => h), https: known.filter(([, s]) => s === 'https:').map(([h]) => h) };
  }

  async openLayer(layer: LayerRef, opts: OpenLayerOptions = {}): Promise<Readable> {
    throwIfAborted(opts.signal, this.source);
    await this.loadCredentials();
    parseDigest(layer.digest, `${this.source}: layer`);
    const label = `${this.source}: layer ${layer.digest}`;
    return openBlobStream(label, layer.size, (offset, signal) =>
      this.client.get(`blobs/${layer.digest}`, { offset, signal, what: `layer ${layer.digest}`, kind: 'blob' }), this.t, opts);
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}
