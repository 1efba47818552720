// Defaulting and validation of Image and RootFS objects. Every error names the field
// (e.g. `spec.diskLimitBytes: must be >= 0`); formatErrors adds the object (and file).
import { InvalidArgumentError, messageOf } from '../errors/index.js';
import { parseSource } from '../image/source-ref.js';
import { API_VERSION, DEFAULT_NAMESPACE, KINDS, type Kind } from './constants.js';
import { describeRef, type ObjectRef } from './keys.js';
import type { GrootObject, Image, ImageSpec, RootFS, RootFSSpec } from './types.js';

export interface FieldError { field: string; message: string }

// DNS-1123 subdomain (object names) and label (namespaces), as Kubernetes checks them.
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const PLATFORM = /^[a-z0-9_]+\/[a-z0-9_]+(\/[a-z0-9_]+)?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const IMAGE_FIELDS = new Set(['source', 'platform', 'pullPolicy', 'credentialsSecretRef', 'insecure']);
const ROOTFS_FIELDS = new Set(['image', 'diskLimitBytes', 'excludeImageFromQuota', 'mount', 'uidMappings', 'gidMappings']);

export function isObjectName(s: string): boolean {
  return s.length > 0 && s.length <= 253 && SUBDOMAIN.test(s);
}

/**
 * A source string the controller accepts: docker://, oci:///ABS, file:///ABS or an absolute
 * tarball path. Relative paths mean nothing to a long-running controller (drop-ins resolve
 * them against their file's directory before this check).
 */
export function isSourceString(s: string): boolean {
  return /^docker:\/\/\S+$/.test(s) || /^oci:\/\S+$/.test(s) || /^file:\/\/\/\S+$/.test(s) || /^\/\S+$/.test(s);
}

/** Why a source string cannot be used, or undefined. */
export function sourceProblem(s: string): string | undefined {
  if (!isSourceString(s)) return `must be docker://REF, oci:///ABS/PATH[:TAG] or an absolute path to a rootfs tarball, got ${JSON.stringify(s)}`;
  try { parseSource(s, '/'); return undefined; } catch (e) { return messageOf(e); }
}

/**
 * RootFS spec.image: an Image name (a plain object name) refers to an Image in the same
 * namespace; anything with ':' or '/' is a source string.
 */
export function imageRefKind(s: string): 'name' | 'source' | 'invalid' {
  if (isObjectName(s)) return 'name';
  if (isSourceString(s)) return 'source';
  return 'invalid';
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks what makes a document an object at all: apiVersion, kind, metadata.name/namespace.
 * Without these an object cannot be named, so its errors belong to the file that held it.
 */
export function identify(raw: unknown): { ref?: ObjectRef; errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (!isObj(raw)) return { errors: [{ field: '', message: 'must be a mapping (an object with apiVersion, kind, metadata, spec)' }] };
  if (raw.apiVersion !== API_VERSION) errors.push({ field: 'apiVersion', message: `must be ${API_VERSION}, got ${JSON.stringify(raw.apiVersion ?? null)}` });
  if (!KINDS.includes(raw.kind as Kind)) errors.push({ field: 'kind', message: `must be one of ${KINDS.join(', ')}, got ${JSON.stringify(raw.kind ?? null)}` });
  const md = raw.metadata;
  let name: string | undefined;
  let namespace = DEFAULT_NAMESPACE;
  if (!isObj(md)) errors.push({ field: 'metadata', message: 'must be a mapping with a name' });
  else {
    if (typeof md.name !== 'string' || !isObjectName(md.name)) {
      errors.push({ field: 'metadata.name', message: `must be a lowercase DNS subdomain (a-z, 0-9, '-', '.'; at most 253 characters), got ${JSON.stringify(md.name ?? null)}` });
    } else name = md.name;
    if (md.namespace !== undefined) {
      if (typeof md.namespace !== 'string' || md.namespace.length > 63 || !DNS_LABEL.test(md.namespace)) {
        errors.push({ field: 'metadata.namespace', message: `must be a lowercase DNS label, got ${JSON.stringify(md.namespace)}` });
      } else namespace = md.namespace;
    }
    if (md.labels !== undefined) {
      if (!isObj(md.labels)) errors.push({ field: 'metadata.labels', message: 'must be a mapping of strings' });
      else for (const [k, v] of Object.entries(md.labels)) {
        if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) errors.push({ field: `metadata.labels.${k}`, message: `must be a label value (at most 63 characters), got ${JSON.stringify(v)}` });
      }
    }
    if (md.annotations !== undefined && (!isObj(md.annotations) || Object.values(md.annotations).some((v) => typeof v !== 'string'))) {
      errors.push({ field: 'metadata.annotations', message: 'must be a mapping of strings' });
    }
  }
  if (errors.length || !name) return { errors };
  return { ref: { kind: raw.kind as Kind, namespace, name }, errors };
}

function checkUnknown(spec: Record<string, unknown>, known: Set<string>, errors: FieldError[]): void {
  for (const k of Object.keys(spec)) if (!known.has(k)) errors.push({ field: `spec.${k}`, message: `unknown field (known: ${[...known].join(', ')})` });
}

function checkBool(spec: Record<string, unknown>, f: string, errors: FieldError[]): void {
  if (spec[f] !== undefined && typeof spec[f] !== 'boolean') errors.push({ field: `spec.${f}`, message: `must be true or false, got ${JSON.stringify(spec[f])}` });
}

function checkSource(field: string, v: unknown, errors: FieldError[]): void {
  if (typeof v !== 'string' || v === '') errors.push({ field, message: 'is required: docker://REF, oci:///ABS/PATH[:TAG] or an absolute path to a rootfs tarball' });
  else { const p = sourceProblem(v); if (p) errors.push({ field, message: p }); }
}

export function validateImageSpec(spec: unknown): FieldError[] {
  const errors: FieldError[] = [];
  if (!isObj(spec)) return [{ field: 'spec', message: 'is required: a mapping with at least source' }];
  checkUnknown(spec, IMAGE_FIELDS, errors);
  checkSource('spec.source', spec.source, errors);
  if (spec.platform !== undefined && (typeof spec.platform !== 'string' || !PLATFORM.test(spec.platform))) {
    errors.push({ field: 'spec.platform', message: `must be os/architecture[/variant] (e.g. linux/amd64), got ${JSON.stringify(spec.platform)}` });
  }
  if (spec.pullPolicy !== undefined && spec.pullPolicy !== 'IfNotPresent' && spec.pullPolicy !== 'Always') {
    errors.push({ field: 'spec.pullPolicy', message: `must be IfNotPresent or Always, got ${JSON.stringify(spec.pullPolicy)}` });
  }
  if (spec.credentialsSecretRef !== undefined) {
    const r = spec.credentialsSecretRef;
    if (!isObj(r) || typeof r.name !== 'string' || r.name === '') errors.push({ field: 'spec.credentialsSecretRef.name', message: 'is required: a Secret name (Kubernetes) or a credentials file path (drop-ins)' });
  }
  checkBool(spec, 'insecure', errors);
  return errors;
}

function checkMappings(spec: Record<string, unknown>, f: 'uidMappings' | 'gidMappings', errors: FieldError[]): void {
  const v = spec[f];
  if (v === undefined) return;
  if (!Array.isArray(v)) { errors.push({ field: `spec.${f}`, message: 'must be a list of {containerID, hostID, size}' }); return; }
  v.forEach((m, i) => {
    if (!isObj(m)) { errors.push({ field: `spec.${f}[${i}]`, message: 'must be a mapping {containerID, hostID, size}' }); return; }
    for (const k of ['containerID', 'hostID', 'size'] as const) {
      const n = m[k];
      const min = k === 'size' ? 1 : 0;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > 0xffffffff) errors.push({ field: `spec.${f}[${i}].${k}`, message: `must be an integer >= ${min} and < 2^32, got ${JSON.stringify(n ?? null)}` });
    }
  });
}

export function validateRootFSSpec(spec: unknown): FieldError[] {
  const errors: FieldError[] = [];
  if (!isObj(spec)) return [{ field: 'spec', message: 'is required: a mapping with at least image' }];
  checkUnknown(spec, ROOTFS_FIELDS, errors);
  if (typeof spec.image !== 'string' || spec.image === '') errors.push({ field: 'spec.image', message: 'is required: an Image name in the same namespace, or a source string' });
  else if (imageRefKind(spec.image) === 'invalid') errors.push({ field: 'spec.image', message: `must be an Image name or a source (docker://REF, oci:///ABS/PATH[:TAG], /abs/rootfs.tar), got ${JSON.stringify(spec.image)}` });
  else if (imageRefKind(spec.image) === 'source') { const p = sourceProblem(spec.image); if (p) errors.push({ field: 'spec.image', message: p }); }
  const d = spec.diskLimitBytes;
  if (d !== undefined) {
    if (typeof d !== 'number' || !Number.isInteger(d)) errors.push({ field: 'spec.diskLimitBytes', message: `must be an integer number of bytes, got ${JSON.stringify(d)}` });
    else if (d < 0) errors.push({ field: 'spec.diskLimitBytes', message: 'must be >= 0' });
  }
  checkBool(spec, 'excludeImageFromQuota', errors);
  checkBool(spec, 'mount', errors);
  checkMappings(spec, 'uidMappings', errors);
  checkMappings(spec, 'gidMappings', errors);
  return errors;
}

export function validateObject(obj: GrootObject): FieldError[] {
  const { errors } = identify(obj);
  return [...errors, ...(obj.kind === 'Image' ? validateImageSpec(obj.spec) : validateRootFSSpec(obj.spec))];
}

export function imageDefaults(spec: ImageSpec): Required<Pick<ImageSpec, 'source' | 'pullPolicy' | 'insecure'>> & ImageSpec {
  return { ...spec, pullPolicy: spec.pullPolicy ?? 'IfNotPresent', insecure: spec.insecure ?? false };
}

export function rootfsDefaults(spec: RootFSSpec): Required<Pick<RootFSSpec, 'image' | 'diskLimitBytes' | 'excludeImageFromQuota' | 'mount'>> & RootFSSpec {
  return { ...spec, diskLimitBytes: spec.diskLimitBytes ?? 0, excludeImageFromQuota: spec.excludeImageFromQuota ?? false, mount: spec.mount ?? true };
}

/** The object with defaults filled in (a copy; the input is not changed). */
export function withDefaults<T extends GrootObject>(obj: T): T {
  const metadata = { ...obj.metadata, namespace: obj.metadata.namespace || DEFAULT_NAMESPACE };
  if (obj.kind === 'Image') return { ...obj, metadata, spec: imageDefaults((obj as Image).spec) } as T;
  return { ...obj, metadata, spec: rootfsDefaults((obj as RootFS).spec) } as T;
}

/** `RootFS default/app (file /etc/groot/app.yaml): spec.diskLimitBytes: must be >= 0` */
export function formatErrors(ref: ObjectRef | undefined, errors: FieldError[], file?: string): string {
  const who = ref ? describeRef(ref) : 'object';
  const where = file ? ` (file ${file})` : '';
  return `${who}${where}: ${errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join('; ')}`;
}

export function assertValid(obj: GrootObject, file?: string): void {
  const errors = validateObject(obj);
  if (errors.length) {
    const { ref } = identify(obj);
    throw new InvalidArgumentError(formatErrors(ref, errors, file));
  }
}
