// Image sources: source strings -> ResolvedImage + layer streams; manifest/config parsing
// shared with the registry client.
export * from './types.js';
export * from './digest.js';
export * from './media-types.js';
export * from './source-ref.js';
export * from './chain.js';
export * from './manifest.js';
export * from './platform.js';
export * from './config.js';
export * from './resolved.js';
export { OciLayoutSource, REF_NAME } from './oci-layout.js';
export { TarballSource, tarballLayerID } from './tarball.js';
export { openImageSource } from './open.js';
