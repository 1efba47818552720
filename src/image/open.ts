// Source string -> ImageSource.
import { OciLayoutSource } from './oci-layout.js';
import { parseSource } from './source-ref.js';
import { TarballSource } from './tarball.js';
import { portableSource } from './portable.js';
import type { ImageSource, LayerRef, OpenLayerOptions, PortableSource, SourceOptions, ResolveHooks } from './types.js';

export function openImageSource(source: string, opts: SourceOptions = {}): ImageSource {
  const ref = parseSource(source);
  switch (ref.kind) {
    case 'oci': return new OciLayoutSource(source, opts);
    case 'tarball': return new TarballSource(source);
    case 'docker': return new LazyRegistrySource(source, opts);
  }
}

/**
 * The registry client (undici and its TLS stack) takes ~0.4 s to load; a CLI create from an
 * OCI layout or tarball should not pay for it, so it is imported on first use.
 */
class LazyRegistrySource implements ImageSource {
  private inner?: Promise<ImageSource>;
  private loaded?: ImageSource;
  constructor(private readonly source: string, private readonly opts: SourceOptions) {}

  private get(): Promise<ImageSource> {
    this.inner ??= import('../registry/index.js').then((m) => (this.loaded = m.registrySource(this.source, this.opts)));
    return this.inner;
  }

  async resolve(signal?: AbortSignal, hooks?: ResolveHooks) { return (await this.get()).resolve(signal, hooks); }
  async openLayer(layer: LayerRef, o?: OpenLayerOptions) { return (await this.get()).openLayer(layer, o); }
  /** With what the loaded source learned (tokens, schemes), once there is one. */
  portable(): PortableSource { return this.loaded?.portable?.() ?? portableSource(this.source, this.opts); }
  async prepare() { await (await this.get()).prepare?.(); }
  schemesFound() { return this.loaded?.schemesFound?.() ?? { http: [], https: [] }; }
  async close() { if (this.inner) await (await this.inner).close(); }
}
