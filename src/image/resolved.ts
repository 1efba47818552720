// Manifest + config bytes -> ResolvedImage, the engine's view of an image.
import { chainIDs } from './chain.js';
import { checkLayerCount, parseConfig } from './config.js';
import { verifyBytes } from './digest.js';
import type { ImageManifest } from './manifest.js';
import type { LayerRef, ResolvedImage } from './types.js';

/**
 * `configBytes` are checked against the manifest's config descriptor (digest and size)
 * here, so every caller gets that check whether the bytes came from disk or a registry.
 */
export function buildResolvedImage(source: string, manifestDigest: string, manifest: ImageManifest, configBytes: Uint8Array): ResolvedImage {
  verifyBytes(configBytes, manifest.config, `${source}: config ${manifest.config.digest}`);
  const config = parseConfig(configBytes, source);
  checkLayerCount(config, manifest, source);
  const chains = chainIDs(config.diffIDs);
  const layers: LayerRef[] = manifest.layers.map((d, i) => ({
    digest: d.digest,
    diffID: config.diffIDs[i]!,
    size: d.size,
    mediaType: d.mediaType,
    chainID: chains[i]!,
    verifiable: true,
  }));
  return {
    source,
    digest: manifestDigest,
    config: { env: config.env, user: config.user, workingDir: config.workingDir, raw: config.raw },
    layers,
    compressedSize: layers.reduce((n, l) => n + l.size, 0),
  };
}
