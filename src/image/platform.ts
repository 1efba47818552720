// Platform matching for multi-platform indexes / manifest lists, in OCI (GOARCH) names.
import { ImageNotFoundError, InvalidArgumentError } from '../errors/index.js';
import type { Descriptor, ImageIndex } from './manifest.js';
import type { Platform } from './types.js';

const NODE_TO_OCI_ARCH: Record<string, string> = {
  x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', riscv64: 'riscv64',
  loong64: 'loong64', mips64el: 'mips64le', mipsel: 'mipsle', ppc: 'ppc',
};

// Names other tools use for the same architectures.
const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' }, 'x86-64': { architecture: 'amd64' }, aarch64: { architecture: 'arm64' },
  armhf: { architecture: 'arm', variant: 'v7' }, armel: { architecture: 'arm', variant: 'v6' },
  i386: { architecture: '386' }, i686: { architecture: '386' },
};

/** The platform this node runs: linux plus process.arch in OCI names (arm with its variant). */
export function hostPlatform(): Platform {
  let architecture = NODE_TO_OCI_ARCH[process.arch] ?? process.arch;
  if (process.arch === 'ppc64') architecture = (process.config.variables as { node_byteorder?: string }).node_byteorder === 'big' ? 'ppc64' : 'ppc64le';
  if (architecture === 'arm') {
    const v = (process.config.variables as { arm_version?: string | number }).arm_version;
    return { os: 'linux', architecture, variant: `v${v ?? 7}` };
  }
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  return { os: 'linux', architecture };
}

/** Canonical form: lowercase, aliases resolved, default variants for arm filled in. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() || undefined;
  const alias = ARCH_ALIASES[architecture];
  if (alias) {
    architecture = alias.architecture;
    variant ??= alias.variant;
  }
  if (architecture === 'arm64' && (variant === undefined || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && variant === undefined) variant = 'v7';
  if (architecture === 'arm' && /^[5-8]$/.test(variant!)) variant = `v${variant}`;
  if (architecture === 'amd64' && variant === undefined) variant = 'v1';
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** "linux/arm64/v8" -> Platform. Throws InvalidArgumentError on a malformed string. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => !/^[A-Za-z0-9._-]+$/.test(x))) {
    throw new InvalidArgumentError(`invalid platform ${JSON.stringify(s)}: want OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7`);
  }
  return { os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function variantLevel(v: string | undefined): number {
  const m = /^v(\d+)$/.exec(v ?? '');
  return m ? Number(m[1]) : NaN;
}

/**
 * How well `have` serves `want`: undefined = not at all; higher is better.
 * Exact variant wins; otherwise an older variant the CPU also runs (arm v6 on a v7 node,
 * amd64 v1 on a v3 node), the closest first.
 */
function score(want: Platform, have: Platform): number | undefined {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return undefined;
  if (w.variant === h.variant) return 1000;
  if (w.architecture === 'arm' || w.architecture === 'amd64') {
    const wl = variantLevel(w.variant);
    const hl = variantLevel(h.variant);
    if (hl < wl) return hl;
  }
  return undefined;
}

/**
 * Pick the index entry for `platform` (default: this node). Entries that are not images
 * (attestations, unknown/unknown) never match. Throws ImageNotFoundError listing what the
 * index offers when nothing fits.
 */
export function selectPlatform(index: ImageIndex, platform: Platform = hostPlatform(), where = 'image index'): Descriptor {
  let best: Descriptor | undefined;
  let bestScore = -1;
  for (const d of index.manifests) {
    if (!d.platform) continue;
    const s = score(platform, d.platform);
    if (s !== undefined && s > bestScore) {
      best = d;
      bestScore = s;
    }
  }
  if (best) return best;
  // An index with a single entry and no platform data at all: nothing to choose between.
  if (index.manifests.length === 1 && !index.manifests[0]!.platform) return index.manifests[0]!;
  const available = index.manifests
    .filter((d) => d.platform && d.platform.os !== 'unknown')
    .map((d) => formatPlatform(d.platform!));
  throw new ImageNotFoundError(
    `${where}: no image for platform ${formatPlatform(platform)}; available: ${available.length ? [...new Set(available)].join(', ') : 'none (the index lists no platforms)'}`,
  );
}
