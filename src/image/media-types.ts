// Media types groot reads. Manifests, indexes and configs in both OCI and Docker schema 2 form.
export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociArtifactManifest: 'application/vnd.oci.artifact.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const MANIFEST_TYPES: readonly string[] = [MT.ociManifest, MT.dockerManifest];
export const INDEX_TYPES: readonly string[] = [MT.ociIndex, MT.dockerManifestList];
export const CONFIG_TYPES: readonly string[] = [MT.ociConfig, MT.dockerConfig];
export const LAYER_TYPES: readonly string[] = [MT.ociLayer, MT.ociLayerGzip, MT.ociLayerZstd, MT.dockerLayerGzip, MT.dockerLayer];

/** Accept header value for manifest requests: every manifest and index type groot reads. */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.dockerManifestList, MT.ociManifest, MT.dockerManifest].join(', ');

/** Layer types a registry/layout may use that groot refuses, with the reason. */
export function unsupportedLayerReason(mediaType: string): string | undefined {
  if (mediaType === MT.dockerForeignLayer || mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.')) {
    return 'is a foreign (non-distributable) layer, which Linux images do not use and groot does not fetch';
  }
  if (mediaType.includes('+encrypted')) return 'is an encrypted layer, which groot cannot decrypt';
  if (!LAYER_TYPES.includes(mediaType)) return 'is not a layer media type groot reads (tar, tar+gzip, tar+zstd)';
  return undefined;
}

/** Media type without parameters ("; charset=utf-8"), lowercased. */
export function bareMediaType(mt: string): string {
  return mt.split(';')[0]!.trim().toLowerCase();
}
