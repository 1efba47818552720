// The store's own filesystem (`init-store --store-size-bytes N`: a sparse file, formatted
// and loop-mounted on the store path, as GrootFS does) lives in src/store/backing.ts. It is
// loaded when a command needs it, so `--help` and argument errors load no libc bindings.
export type BackingStore = typeof import('../store/backing.js');

let cached: Promise<BackingStore> | undefined;

export function loadBackingStore(): Promise<BackingStore> {
  cached ??= import('../store/backing.js');
  return cached;
}

/** Before any command that reads the store: a backing store loses its mount at reboot. */
export async function ensureStoreMounted(storePath: string): Promise<void> {
  await (await loadBackingStore()).ensureStoreMounted(storePath);
}
