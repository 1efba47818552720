// The engine end to end on an XFS store with project quotas: GrootFS disk-limit semantics
// (inclusive and exclusive) enforced inside the mounted rootfs, stats numbers, and delete
// releasing the project id. The image is a plain rootfs tarball made here with tar.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { initStore, deleteStore } from '../../dist/store/backing.js';
import { openEngine } from '../../dist/rootfs/index.js';
import { detectQuotaBackend } from '../../dist/quota/index.js';
import { fsGetXattr } from '../../dist/sys/ioctl.js';
import { test, writeUpTo, refused, MiB } from './harness.mjs';

export async function engineSuite(scratch) {
  const store = join(scratch, 'engine-store');
  const image = join(scratch, 'image');
  const tarball = join(scratch, 'rootfs.tar');
  let engine;

  const ready = await test('engine on xfs: store, a 3 MiB rootfs tarball, openEngine', async () => {
    await initStore({ storePath: store, sizeBytes: 320 * MiB, fs: 'xfs' });
    assert.equal((await detectQuotaBackend(store)).kind, 'xfs');
    await mkdir(join(image, 'data'), { recursive: true });
    execFileSync('dd', ['if=/dev/urandom', `of=${join(image, 'data', 'blob')}`, 'bs=1048576', 'count=3'], { stdio: 'ignore' });
    execFileSync('tar', ['-cf', tarball, '-C', image, '.']);
    engine = await openEngine({ storePath: store });
  });
  if (!ready) return;

  await test('engine on xfs: inclusive limit counts the image; writing past it fails; stats; delete frees the project id', async () => {
    const { rootfs } = await engine.create({ id: 'inc', source: tarball, diskLimitBytes: 12 * MiB });
    const dir = join(store, 'images', 'inc');
    const id = fsGetXattr(dir).projid;
    assert.ok(id > 0);
    const r = await writeUpTo(join(rootfs.path, 'fill'), 20 * MiB);
    assert.ok(refused(r.error), `write refused (got ${r.error?.code ?? 'no error'} after ${r.written})`);
    assert.ok(r.written <= 9 * MiB && r.written > 7 * MiB, `12 MiB - 3 MiB image: wrote ${r.written}`);
    const s = await engine.stats('inc');
    assert.ok(s.exclusiveBytesUsed > 7 * MiB && s.exclusiveBytesUsed <= 9 * MiB + 256 * 1024, `exclusive ${s.exclusiveBytesUsed}`);
    assert.ok(s.totalBytesUsed >= s.exclusiveBytesUsed + 3 * MiB, `total ${s.totalBytesUsed}`);
    assert.ok(s.quotaSizeBytes > 0);
    // Another rootfs in the same store is not affected.
    const other = await engine.create({ id: 'other', source: tarball });
    assert.equal((await writeUpTo(join(other.rootfs.path, 'x'), 2 * MiB)).error, undefined);
    assert.notEqual(fsGetXattr(join(store, 'images', 'other')).projid, id);
    await engine.delete('other');
    assert.equal(await engine.delete('inc'), true);
    assert.equal(existsSync(dir), false);
    assert.equal(readdirSync(join(store, 'projectids')).includes(String(id)), false, 'project id freed');
  });

  await test('engine on xfs: exclusive limit counts only what the container writes', async () => {
    const { rootfs } = await engine.create({ id: 'exc', source: tarball, diskLimitBytes: 12 * MiB, excludeImageFromQuota: true });
    const r = await writeUpTo(join(rootfs.path, 'fill'), 20 * MiB);
    assert.ok(refused(r.error), `write refused (got ${r.error?.code ?? 'no error'} after ${r.written})`);
    assert.ok(r.written <= 12 * MiB && r.written > 10 * MiB, `wrote ${r.written}`);
    const s = await engine.stats('exc');
    assert.ok(s.exclusiveBytesUsed > 10 * MiB && s.exclusiveBytesUsed <= 12 * MiB + 256 * 1024, `exclusive ${s.exclusiveBytesUsed}`);
    await engine.delete('exc');
  });

  await test('engine on xfs: close and deleteStore', async () => {
    await engine.close();
    await deleteStore(store);
    assert.equal(existsSync(store), false);
  });
}
