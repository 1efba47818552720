// Plain rootfs tarballs (Cloud Foundry stacks): one unverifiable layer keyed by path, size, mtime.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync, symlinkSync, statSync, utimesSync, mkdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ImageNotFoundError, InvalidArgumentError } from '../../src/errors/index.js';
import { MT, OciLayoutSource, TarballSource, openImageSource } from '../../src/image/index.js';
import { registrySource } from '../../src/registry/index.js';
import { tar } from '../helpers/tar.js';

let tmp: string;
beforeEach(() => { tmp = mkdtempSync(join(tmpdir(), 'groot-image-tarball-')); });
afterEach(() => { rmSync(tmp, { recursive: true, force: true }); });

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try { await p; } catch (e) { return e as Error; }
  throw new Error('expected a rejection');
}

/** The documented synthetic id, computed independently of the implementation. */
function expectedID(path: string): string {
  const real = realpathSync(path);
  const st = statSync(real, { bigint: true });
  return 'sha256:' + createHash('sha256').update(`${real}\n${st.size}\n${st.mtimeNs}`).digest('hex');
}

const ROOTFS = tar([{ name: 'etc/', type: 'dir' }, { name: 'etc/lsb-release', content: 'DISTRIB_ID=Ubuntu\n' }, { name: 'bin/', type: 'dir' }]);

test('a rootfs.tar is one layer with no config, keyed by realpath, size and mtime', async () => {
  const file = join(tmp, 'rootfs.tar');
  writeFileSync(file, ROOTFS);
  const src = openImageSource(file);
  expect(src).toBeInstanceOf(TarballSource);
  const img = await src.resolve();
  const id = expectedID(file);
  expect(img).toEqual({
    source: file,
    digest: id,
    config: { env: [], user: '', workingDir: '', raw: {} },
    layers: [{ digest: id, diffID: id, chainID: id, size: ROOTFS.length, mediaType: MT.ociLayer, verifiable: false }],
    compressedSize: ROOTFS.length,
  });
  let progress = 0;
  expect((await readAll(await src.openLayer(img.layers[0]!, { onBytes: (n) => { progress += n; } }))).equals(ROOTFS)).toBe(true);
  expect(progress).toBe(ROOTFS.length);
  // GNU tar agrees it is a tar with our entries
  expect(execFileSync('tar', ['-tf', file]).toString()).toContain('etc/lsb-release');
});

test('gzip and zstd tarballs are detected by magic; relative, file:// and symlinked paths give the same id', async () => {
  const gz = join(tmp, 'rootfs.tar.gz');
  writeFileSync(gz, gzipSync(ROOTFS));
  const img = await new TarballSource(gz).resolve();
  expect(img.layers[0]!.mediaType).toBe(MT.ociLayerGzip);
  expect(img.layers[0]!.size).toBe(statSync(gz).size);
  execFileSync('zstd', ['-q', '-o', join(tmp, 'rootfs.tar.zst')], { input: ROOTFS });
  expect((await new TarballSource(join(tmp, 'rootfs.tar.zst')).resolve()).layers[0]!.mediaType).toBe(MT.ociLayerZstd);

  symlinkSync(gz, join(tmp, 'link.tar.gz'));
  expect((await new TarballSource(join(tmp, 'link.tar.gz')).resolve()).digest).toBe(img.digest);
  expect((await new TarballSource(`file://${gz}`).resolve()).digest).toBe(img.digest);
  const cwd = process.cwd();
  process.chdir(tmp);
  try {
    expect((await new TarballSource('rootfs.tar.gz').resolve()).digest).toBe(img.digest);
  } finally {
    process.chdir(cwd);
  }
});

test('touching or replacing the file gives a new id; a stale layer ref is refused', async () => {
  const file = join(tmp, 'rootfs.tar');
  writeFileSync(file, ROOTFS);
  const src = new TarballSource(file);
  const before = await src.resolve();
  utimesSync(file, new Date('2030-01-01T00:00:00Z'), new Date('2030-01-01T00:00:00.000001Z'));
  const after = await src.resolve();
  expect(after.digest).not.toBe(before.digest);
  expect(after.digest).toBe(expectedID(file));
  const e = await errorOf(src.openLayer(before.layers[0]!));
  expect(e).toBeInstanceOf(ImageNotFoundError);
  expect(e.message).toBe(`${file}: rootfs tarball ${file} changed since it was resolved (size or mtime differ); resolve it again`);
  // same mtime, other size
  writeFileSync(file, Buffer.concat([ROOTFS, Buffer.alloc(512)]));
  utimesSync(file, new Date('2030-01-01T00:00:00Z'), new Date('2030-01-01T00:00:00.000001Z'));
  expect((await src.resolve()).digest).not.toBe(after.digest);
});

test('missing path, directory and non-regular file: ImageNotFoundError naming the path', async () => {
  const missing = join(tmp, 'nope.tar');
  const e1 = await errorOf(new TarballSource(missing).resolve());
  expect(e1).toBeInstanceOf(ImageNotFoundError);
  expect(e1.message).toBe(`${missing}: rootfs tarball ${missing} does not exist`);

  const dir = join(tmp, 'dir');
  mkdirSync(dir);
  const e2 = await errorOf(new TarballSource(dir).resolve());
  expect(e2).toBeInstanceOf(ImageNotFoundError);
  expect(e2.message).toBe(`${dir}: ${dir} is a directory, not a rootfs tarball (an OCI layout is written oci://${dir})`);

  const fifo = join(tmp, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const e3 = await errorOf(new TarballSource(fifo).resolve()); // must not block opening the fifo
  expect(e3.message).toBe(`${fifo}: ${fifo} is not a regular file, so not a rootfs tarball`);

  const dangling = join(tmp, 'dangling.tar');
  symlinkSync(join(tmp, 'gone'), dangling);
  expect((await errorOf(new TarballSource(dangling).resolve())).message).toBe(`${dangling}: rootfs tarball ${dangling} does not exist`);

  writeFileSync(join(tmp, 'r.tar'), ROOTFS);
  const src = new TarballSource(join(tmp, 'r.tar'));
  const img = await src.resolve();
  rmSync(join(tmp, 'r.tar'));
  expect((await errorOf(src.openLayer(img.layers[0]!))).message).toMatch(/rootfs tarball .*r\.tar does not exist/);
});

test('an unreadable tarball (as a user without permission) is ImageNotFoundError', async () => {
  const file = join(tmp, 'secret.tar');
  writeFileSync(file, ROOTFS, { mode: 0o600 });
  if (process.getuid?.() !== 0) {
    // not root: plain permission check
    execFileSync('chmod', ['000', file]);
    expect((await errorOf(new TarballSource(file).resolve())).message).toBe(`${file}: rootfs tarball ${file} cannot be read (permission denied)`);
    return;
  }
  // root reads everything: drop the effective uid to nobody for the check, then restore it
  chmodSync(tmp, 0o755);
  let e: Error;
  process.setegid!(65534);
  process.seteuid!(65534);
  try {
    e = await errorOf(new TarballSource(file).resolve());
  } finally {
    process.seteuid!(0);
    process.setegid!(0);
  }
  expect(process.geteuid!()).toBe(0);
  expect(e).toBeInstanceOf(ImageNotFoundError);
  expect(e.message).toBe(`${file}: rootfs tarball ${file} cannot be read (permission denied)`);
});

test('openImageSource dispatches by scheme and validates before dispatch', async () => {
  expect(openImageSource(`oci://${tmp}/x:y`)).toBeInstanceOf(OciLayoutSource);
  expect(openImageSource(join(tmp, 'x.tar'))).toBeInstanceOf(TarballSource);
  expect(() => openImageSource('docker:///busybox/Upper')).toThrow(InvalidArgumentError);
  expect(() => openImageSource('docker:///busybox/Upper')).toThrow(/must be lowercase/);
  // docker:// goes to the registry client, loaded on first use: resolving against a closed
  // port fails the way the registry client itself fails.
  const viaOpen = openImageSource('docker://127.0.0.1:1/repo:tag', { insecureRegistries: ['127.0.0.1:1'] });
  expect(viaOpen).not.toBeInstanceOf(OciLayoutSource);
  expect(viaOpen).not.toBeInstanceOf(TarballSource);
  const direct = registrySource('docker://127.0.0.1:1/repo:tag', { insecureRegistries: ['127.0.0.1:1'] });
  const errOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as { code?: string; constructor: unknown });
  const [a, b] = await Promise.all([errOf(viaOpen.resolve()), errOf(direct.resolve())]);
  expect(a?.constructor).toBe(b?.constructor);
  expect(a?.code).toBe(b?.code);
  expect(a?.code).toMatch(/^GROOT_REGISTRY/);
});
