// Source string -> ImageSource.
import { registrySource } from '../registry/index.js';
import { OciLayoutSource } from './oci-layout.js';
import { parseSource } from './source-ref.js';
import { TarballSource } from './tarball.js';
import type { ImageSource, SourceOptions } from './types.js';

export function openImageSource(source: string, opts: SourceOptions = {}): ImageSource {
  const ref = parseSource(source);
  switch (ref.kind) {
    case 'oci': return new OciLayoutSource(source, opts);
    case 'tarball': return new TarballSource(source);
    case 'docker': return registrySource(source, opts);
  }
}
