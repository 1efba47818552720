// The overlay of one root filesystem: lowers are the image's volumes (topmost first) by
// their short links in l/, upper and work dirs live in images/<id>.
//
// Two option strings matter. The one a runtime gets (`--without-mount`) is absolute. The
// one groot mounts itself uses the new mount API's `lowerdir+` with absolute paths; on
// kernels without it, mount(2) gets paths relative to the store (after chdir into it), so a
// 200-layer image still fits the 4096-byte limit: "l/XXXXXXXXXX:" is 13 bytes a layer.
import { mountOverlay, overlayOptionString } from '../sys/index.js';
import type { MountSpec } from './types.js';
import type { StoreLayout } from '../store/index.js';

/** Largest option string mount(2) takes (one page). */
export const MOUNT_DATA_MAX = 4096;

export interface OverlayDirs {
  /** Lower paths relative to the store root, topmost first. */
  lowers: string[];
  upper: string;
  work: string;
}

export function overlayDirs(id: string, relLowersTopFirst: string[]): OverlayDirs {
  return { lowers: relLowersTopFirst, upper: `images/${id}/diff`, work: `images/${id}/workdir` };
}

export function absolute(layout: StoreLayout, d: OverlayDirs): OverlayDirs {
  const abs = (p: string) => `${layout.root}/${p}`;
  return { lowers: d.lowers.map(abs), upper: abs(d.upper), work: abs(d.work) };
}

/** The mount a runtime performs itself (create --without-mount): absolute paths. */
export function mountSpec(layout: StoreLayout, d: OverlayDirs): MountSpec {
  const a = absolute(layout, d);
  return { destination: '/', type: 'overlay', source: 'overlay', options: [overlayOptionString({ lowers: a.lowers, upper: a.upper, work: a.work })] };
}

/** The option string of the relative form (what mount(2) gets on old kernels). */
export function relativeMountData(d: OverlayDirs): string {
  return overlayOptionString({ lowers: d.lowers, upper: d.upper, work: d.work });
}

/**
 * Mount the overlay at `target` with absolute paths (what /proc/mounts then shows). Only the
 * mount(2) fallback for kernels without `lowerdir+` goes relative to the store.
 */
export function mountRootfs(layout: StoreLayout, d: OverlayDirs, target: string): void {
  const a = absolute(layout, d);
  mountOverlay({ lowers: a.lowers, upper: a.upper, work: a.work, target, relativeTo: layout.root });
}
