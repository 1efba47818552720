// One string per object: "Kind/namespace/name". Work-queue keys, map keys, log fields.
import { DEFAULT_NAMESPACE, KINDS, type Kind } from './constants.js';
import type { GrootObject } from './types.js';

export interface ObjectRef { kind: Kind; namespace: string; name: string }

export function keyOf(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

export function refOf(obj: GrootObject): ObjectRef {
  return { kind: obj.kind, namespace: obj.metadata.namespace || DEFAULT_NAMESPACE, name: obj.metadata.name };
}

export function objectKey(obj: GrootObject): string {
  return keyOf(refOf(obj));
}

export function parseKey(key: string): ObjectRef {
  const [kind, namespace, name, ...rest] = key.split('/');
  if (!KINDS.includes(kind as Kind) || !namespace || !name || rest.length) throw new Error(`not an object key: ${key}`);
  return { kind: kind as Kind, namespace, name };
}

/** "RootFS default/app", the way messages name an object. */
export function describeRef(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace}/${ref.name}`;
}
