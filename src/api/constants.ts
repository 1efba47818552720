// Names shared by the API types, the CRDs, the controller and the CLI.
export const GROUP = 'groot.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Objects for one node carry this label; a controller selects on it. */
export const NODE_LABEL = 'groot.dev/node';
/** Kept on a RootFS until its root filesystem is gone (Kubernetes source). */
export const FINALIZER = 'groot.dev/cleanup';
/** Drop-in source: the file an object was read from (so messages can name it). */
export const SOURCE_FILE_ANNOTATION = 'groot.dev/source-file';

export const DEFAULT_NAMESPACE = 'default';

export type Kind = 'Image' | 'RootFS';
export const KINDS: readonly Kind[] = ['Image', 'RootFS'];

export const PLURAL: Record<Kind, string> = { Image: 'images', RootFS: 'rootfses' };
export const SINGULAR: Record<Kind, string> = { Image: 'image', RootFS: 'rootfs' };
export const SHORT_NAMES: Record<Kind, string[]> = { Image: ['gimg'], RootFS: ['rfs'] };
export const CATEGORIES = ['groot'];
