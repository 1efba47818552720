// Host ids for a layer's owners in a store made with uid/gid mappings (init-store
// --uid-mapping/--gid-mapping/--rootless): container id c in [containerID, containerID+size)
// is hostID + (c - containerID), as the container's user namespace maps it. Volumes are
// unpacked mapped, so the root filesystem shows the image's owners inside the namespace.
// An id outside every range has no host id (a chown to it fails inside the namespace
// too): the layer is refused, naming the entry.

export interface IdRange { containerID: number; hostID: number; size: number }

/** A store's mappings; an empty list leaves that kind of id as it is. */
export interface IdMap { uid: IdRange[]; gid: IdRange[] }

export type IdMapper = (id: number) => number;

export function idMapper(ranges: readonly IdRange[] | undefined, kind: 'uid' | 'gid'): IdMapper | undefined {
  if (!ranges || ranges.length === 0) return undefined;
  return (id) => {
    for (const r of ranges) if (id >= r.containerID && id - r.containerID < r.size) return r.hostID + (id - r.containerID);
    throw new Error(`${kind} ${id} is outside the store's ${kind} mappings (${ranges.map((r) => `${r.containerID}:${r.hostID}:${r.size}`).join(', ')})`);
  };
}
