#!/usr/bin/env node
// Build the example OCI image layout the demo uses, offline, from Debian's busybox-static:
//   examples/busybox/   oci-layout, index.json (tag "latest"), blobs/sha256/...
// Two gzip layers: a busybox root filesystem, then a small "app" layer on top.
// Deterministic (sorted names, fixed owners and mtimes): the same input gives the same digests.
// Usage: node hack/build-example-image.mjs [OUT_DIR] [--force]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const force = args.includes('--force');
const out = resolve(args.find((a) => !a.startsWith('--')) ?? join(repo, 'examples', 'busybox'));
const BUSYBOX = process.env.BUSYBOX ?? '/bin/busybox';

if (existsSync(join(out, 'index.json')) && !force) {
  console.log(out);
  process.exit(0);
}
if (!existsSync(BUSYBOX)) {
  console.error(`build-example-image: ${BUSYBOX} not found: install Debian's busybox-static (hack/install.sh does)`);
  process.exit(1);
}

// Work beside OUT_DIR so the final rename never crosses filesystems.
mkdirSync(dirname(out), { recursive: true });
const work = mkdtempSync(join(dirname(out), '.build-'));
try {
  // Layer 1: busybox and a minimal root filesystem.
  const base = join(work, 'base');
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev', 'usr/bin', 'var']) mkdirSync(join(base, d), { recursive: true });
  chmodSync(join(base, 'tmp'), 0o1777);
  chmodSync(join(base, 'root'), 0o700);
  copyFileSync(BUSYBOX, join(base, 'bin/busybox'));
  chmodSync(join(base, 'bin/busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(base, 'bin', a));
  writeFileSync(join(base, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(base, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(base, 'etc/hostname'), 'groot-example\n');

  // Layer 2: what an application image adds on top.
  const app = join(work, 'app');
  mkdirSync(join(app, 'etc'), { recursive: true });
  mkdirSync(join(app, 'app'), { recursive: true });
  writeFileSync(join(app, 'etc/motd'), 'Hello from a root filesystem made by groot.\n');
  writeFileSync(join(app, 'app/run.sh'), '#!/bin/sh\necho "hello from $(cat /etc/hostname)"\n');
  chmodSync(join(app, 'app/run.sh'), 0o755);

  const blobsDir = join(work, 'layout', 'blobs', 'sha256');
  mkdirSync(blobsDir, { recursive: true });
  const blob = (data, mediaType) => {
    const hex = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobsDir, hex), data);
    return { mediaType, digest: `sha256:${hex}`, size: data.length };
  };
  const layer = (dir) => {
    const raw = execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@946684800',
      '--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 28 });
    const diffID = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    return { ...blob(gzipSync(raw, { level: 9 }), 'application/vnd.oci.image.layer.v1.tar+gzip'), diffID };
  };
  const layers = [layer(base), layer(app)];
  const config = {
    created: '2000-01-01T00:00:00Z',
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello'], Cmd: ['/bin/sh'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: [{ created: '2000-01-01T00:00:00Z', created_by: 'busybox-static' }, { created: '2000-01-01T00:00:00Z', created_by: 'example app' }],
  };
  const cfg = blob(Buffer.from(JSON.stringify(config)), 'application/vnd.oci.image.config.v1+json');
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cfg,
    layers: layers.map(({ diffID: _d, ...d }) => d),
  })), 'application/vnd.oci.image.manifest.v1+json');
  writeFileSync(join(work, 'layout', 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(work, 'layout', 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  // Swap into place whole: a half-written layout is never left at OUT_DIR.
  rmSync(out, { recursive: true, force: true });
  renameSync(join(work, 'layout'), out);
  console.log(out);
} finally {
  rmSync(work, { recursive: true, force: true });
}
