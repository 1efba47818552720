// The declarative objects (DESIGN.md "Objects"): Image and RootFS, apiVersion groot.dev/v1alpha1.
import type { Kind } from './constants.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** Kubernetes condition conventions (metav1.Condition). */
export interface Condition {
  type: string;
  status: ConditionStatus;
  /** CamelCase, machine-readable. */
  reason: string;
  /** For a person: what happened and what to do. */
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type PullPolicy = 'IfNotPresent' | 'Always';

export interface ImageSpec {
  /** docker://REF, oci:///ABS/PATH[:TAG|@DIGEST], or /abs/path/rootfs.tar */
  source: string;
  /** os/arch[/variant]; manifest lists pick this. */
  platform?: string;
  pullPolicy?: PullPolicy;
  /** Kubernetes: a Secret (dockerconfigjson) in the same namespace. Drop-ins: a file path. */
  credentialsSecretRef?: { name: string };
  /** Plain HTTP / unverified TLS for this image's registry. */
  insecure?: boolean;
}

export interface ImageStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** Resolved manifest digest. */
  digest?: string;
  layers?: number;
  size?: { compressedBytes: number; unpackedBytes: number };
  /** Only while pulling. */
  progress?: { bytesDone: number; bytesTotal: number };
  lastPullTime?: string;
}

export interface IDMapping { containerID: number; hostID: number; size: number }

export interface RootFSSpec {
  /** An Image's name in the same namespace, or a source string. */
  image: string;
  /** 0 = no quota. */
  diskLimitBytes?: number;
  excludeImageFromQuota?: boolean;
  /** False: nothing is mounted; status.mounts carries the mount for the runtime. */
  mount?: boolean;
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
}

export interface MountStatus { destination: string; type: string; source: string; options: string[] }

export interface RootFSStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  path?: string;
  /** Only when spec.mount is false: the mount the runtime must make. */
  mounts?: MountStatus[];
  imageDigest?: string;
  usage?: { totalBytesUsed: number; exclusiveBytesUsed: number; quotaSizeBytes: number };
  lastUsageTime?: string;
}

export interface Image { apiVersion: string; kind: 'Image'; metadata: ObjectMeta; spec: ImageSpec; status?: ImageStatus }
export interface RootFS { apiVersion: string; kind: 'RootFS'; metadata: ObjectMeta; spec: RootFSSpec; status?: RootFSStatus }

export type GrootObject = Image | RootFS;
export type StatusOf<K extends Kind> = K extends 'Image' ? ImageStatus : RootFSStatus;
export type AnyStatus = ImageStatus | RootFSStatus;
