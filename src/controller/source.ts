// Where desired state comes from. One interface, two implementations (drop-in files and the
// Kubernetes API) that pass one conformance suite (test/unit/controller-source-conformance).
import type { SourceOptions } from '../image/types.js';
import type { AnyStatus, GrootObject, Image, Kind } from '../api/index.js';

export type ChangeType = 'added' | 'modified' | 'deleted';

export interface Change {
  type: ChangeType;
  key: string;
  /** The new object; for `deleted`, the last one seen. */
  object: GrootObject;
}

export type ChangeHandler = (c: Change) => void;

/** A problem with the source that no object can carry (a file that is not YAML, an unnamed object). */
export interface SourceProblem {
  /** e.g. the drop-in file. */
  where: string;
  /** The object when it could be named ("RootFS default/app"). */
  object?: string;
  field?: string;
  message: string;
}

export type EventType = 'Normal' | 'Warning';

/** Where status goes: the /status subresource, or files under the store. */
export interface StatusWriter {
  /** Replace the object's status. The object is as the source last delivered it. */
  write(obj: GrootObject, status: AnyStatus): Promise<void>;
  /** The object is gone: drop what was kept for it (status files); no-op on Kubernetes. */
  forget(obj: { kind: Kind; namespace: string; name: string }): Promise<void>;
}

export interface Source {
  readonly name: 'dropins' | 'kube';
  /** Whether deletion goes through a finalizer (the object lingers with deletionTimestamp). */
  readonly usesFinalizers: boolean;
  /**
   * Whether the objects are the node operator's own word (drop-in files in a directory the
   * operator owns) and may name any local source or insecure registry. False for the
   * Kubernetes API, whose objects anyone with RBAC on them writes: source-policy.ts applies.
   */
  readonly operatorOwned: boolean;
  readonly status: StatusWriter;

  /** Begin listing and watching. Resolves once started; `synced()` says when the first list is in. */
  start(onChange: ChangeHandler): Promise<void>;
  stop(): Promise<void>;

  /**
   * True after a complete, successful list and while the cache can be trusted to hold
   * every object. False while the source cannot be read (drop-in directory gone): callers
   * must not act on an object's absence then.
   */
  synced(): boolean;
  waitForSync(timeoutMs: number): Promise<boolean>;

  get(key: string): GrootObject | undefined;
  list(kind?: Kind): GrootObject[];
  problems(): SourceProblem[];

  /** Make sure the cleanup finalizer is on the object; returns the object as updated. */
  addFinalizer(obj: GrootObject): Promise<GrootObject>;
  /** Cleanup done: let the object go. */
  removeFinalizer(obj: GrootObject): Promise<void>;

  /** Tell people what happened (Kubernetes Events; a log line and event file for drop-ins). */
  event(obj: GrootObject, type: EventType, reason: string, message: string): void;

  /**
   * Registry credentials for an Image (spec.credentialsSecretRef). `release` removes any
   * temporary file made for them.
   */
  credentials(obj: Image): Promise<{ options: Pick<SourceOptions, 'credentials' | 'credentialsFile'>; release(): Promise<void> }>;
}
