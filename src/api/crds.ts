// The CustomResourceDefinitions, built here so schema, columns and names have one source.
// crds/*.yaml are this output (a unit test keeps them equal).
import { createRequire } from 'node:module';
import { CATEGORIES, GROUP, PLURAL, SHORT_NAMES, SINGULAR, VERSION, type Kind } from './constants.js';
import { PRINTER_COLUMNS } from './columns.js';

// yaml takes ~50 ms to load and api/ is imported by `get`/`describe`: load it only to print a CRD.
const yaml = () => createRequire(import.meta.url)('yaml') as typeof import('yaml');

type Schema = Record<string, unknown>;

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', format: 'int64', description, ...extra });
const bool = (description: string, dflt?: boolean): Schema => ({ type: 'boolean', description, ...(dflt !== undefined ? { default: dflt } : {}) });

const conditions: Schema = {
  type: 'array',
  description: 'Ready first, then specific conditions (Kubernetes conventions).',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: {
    type: 'object',
    required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
    properties: {
      type: str('Condition type, e.g. Ready'),
      status: str('True, False or Unknown', { enum: ['True', 'False', 'Unknown'] }),
      reason: str('CamelCase reason', { pattern: '^[A-Z][A-Za-z0-9]*$' }),
      message: str('What happened, for a person'),
      lastTransitionTime: str('When status last changed', { format: 'date-time' }),
      observedGeneration: int('Generation this condition was set for', { minimum: 0 }),
    },
  },
};

const mapping: Schema = {
  type: 'object',
  required: ['containerID', 'hostID', 'size'],
  properties: {
    containerID: int('First ID inside the container', { minimum: 0, maximum: 4294967295 }),
    hostID: int('First ID on the host', { minimum: 0, maximum: 4294967295 }),
    size: int('How many IDs', { minimum: 1, maximum: 4294967295 }),
  },
};

const SOURCE_PATTERN = '^(docker://\\S+|oci:/\\S+|file:///\\S+|/\\S+)$';

const imageSchema: Schema = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['source'],
      properties: {
        source: str('docker://REF, oci:///ABS/PATH[:TAG] or an absolute rootfs tarball path; @sha256: pins', { minLength: 1, pattern: SOURCE_PATTERN }),
        platform: str('os/architecture[/variant]: which entry of a manifest list to use', { pattern: '^[a-z0-9_]+/[a-z0-9_]+(/[a-z0-9_]+)?$' }),
        pullPolicy: str('IfNotPresent, or Always: re-resolve the tag every resync period', { enum: ['IfNotPresent', 'Always'], default: 'IfNotPresent' }),
        credentialsSecretRef: {
          type: 'object',
          description: 'A kubernetes.io/dockerconfigjson Secret in the same namespace',
          required: ['name'],
          properties: { name: str('Secret name', { minLength: 1 }) },
        },
        insecure: bool('Allow plain HTTP or unverified TLS for this registry', false),
      },
    },
    status: {
      type: 'object',
      properties: {
        observedGeneration: int('Generation the status is for', { minimum: 0 }),
        conditions,
        digest: str('Resolved manifest digest'),
        layers: int('Number of layers', { minimum: 0 }),
        size: { type: 'object', properties: { compressedBytes: int('Sum of layer blob sizes'), unpackedBytes: int('Sum of unpacked layer sizes') } },
        progress: { type: 'object', description: 'Only while pulling', properties: { bytesDone: int('Bytes fetched'), bytesTotal: int('Bytes to fetch') } },
        lastPullTime: str('When the image was last pulled or re-resolved', { format: 'date-time' }),
      },
    },
  },
};

const rootfsSchema: Schema = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['image'],
      'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'spec is immutable: delete the RootFS and create a new one' }],
      properties: {
        image: str('An Image name in the same namespace, or a source string', { minLength: 1 }),
        diskLimitBytes: int('Disk quota in bytes; 0 = no quota', { minimum: 0, default: 0 }),
        excludeImageFromQuota: bool('Count only what the container writes against the quota', false),
        mount: bool('Mount the root filesystem; false: status.mounts says how', true),
        uidMappings: { type: 'array', description: 'User namespace UID mappings (rootless)', items: mapping },
        gidMappings: { type: 'array', description: 'User namespace GID mappings (rootless)', items: mapping },
      },
    },
    status: {
      type: 'object',
      properties: {
        observedGeneration: int('Generation the status is for', { minimum: 0 }),
        conditions,
        path: str('Root filesystem path on the node'),
        mounts: {
          type: 'array',
          description: 'Mounts the runtime must make (only when spec.mount is false)',
          items: {
            type: 'object',
            properties: { destination: str('Mount point in the container'), type: str('Filesystem type'), source: str('Mount source'), options: { type: 'array', items: { type: 'string' } } },
          },
        },
        imageDigest: str('Manifest digest of the image it was made from'),
        usage: {
          type: 'object',
          properties: { totalBytesUsed: int('Bytes used, image included unless excluded from quota'), exclusiveBytesUsed: int('Bytes the container wrote'), quotaSizeBytes: int('Quota limit in bytes') },
        },
        lastUsageTime: str('When usage was last measured', { format: 'date-time' }),
      },
    },
  },
};

export function crdFor(kind: Kind): Record<string, unknown> {
  const plural = PLURAL[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'groot' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { plural, singular: SINGULAR[kind], kind, listKind: `${kind}List`, shortNames: SHORT_NAMES[kind], categories: CATEGORIES },
      versions: [{
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: PRINTER_COLUMNS[kind].map((c) => ({ ...c })),
        schema: { openAPIV3Schema: kind === 'Image' ? imageSchema : rootfsSchema },
      }],
    },
  };
}

export const CRD_HEADER = '# Generated from src/api/crds.ts; test/unit/api-crds.test.ts checks it (GROOT_UPDATE_CRDS=1 rewrites it).\n';

/** crds/<plural>.groot.dev.yaml as committed. */
export function crdYaml(kind: Kind): string {
  return CRD_HEADER + yaml().stringify(crdFor(kind), { lineWidth: 0 });
}
