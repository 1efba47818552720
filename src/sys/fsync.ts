import { closeSync, fsync, mkdirSync, openSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { lib } from './libc.js';
import { SyscallError } from '../errors/index.js';

const syncfsFn = lib.func('int syncfs(int fd)');

// Only the calls that wait for the disk (syncfs, fsync) go to the thread pool; opening,
// writing, renaming and closing are synchronous (microseconds each). Each await of the
// promise API is a pool round trip, and on a busy node (an unpack on every core) a round trip
// waited up to 23 ms for a pool thread to get a core: the open before a layer's syncfs, on
// the way to its commit.

/**
 * Flush the whole filesystem that holds `path` (syncfs(2)), on koffi's worker thread so the
 * event loop keeps going. One call covers every file an unpack wrote, where fsync per file
 * would cost thousands of calls.
 */
export async function syncFilesystem(path: string): Promise<void> {
  const fd = openSync(path, 'r');
  try {
    await new Promise<void>((resolve, reject) => {
      syncfsFn.async(fd, (err: unknown, ret: number) => {
        if (err) reject(err);
        else if (ret !== 0) reject(new SyscallError('syncfs', 5, path, 'syncfs failed'));
        else resolve();
      });
    });
  } finally {
    closeSync(fd);
  }
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}

/**
 * syncfs for one filesystem, shared: callers that ask while a sync runs wait for the next
 * one, which starts when the running one ends and serves them all (the running one may have
 * begun before their writes). Layers committed side by side then cost one or two syncs,
 * not one each.
 */
export class FilesystemSyncer {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly path: string, private readonly run: (path: string) => Promise<void> = syncFilesystem) {}

  sync(): Promise<void> {
    if (!this.running) return this.start();
    this.next ??= this.running.catch(() => {}).then(() => {
      this.next = undefined;
      return this.start();
    });
    return this.next;
  }

  private start(): Promise<void> {
    const p: Promise<void> = this.run(this.path).finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }
}

export async function fsyncPath(path: string): Promise<void> {
  const fd = openSync(path, 'r');
  try { await fsyncFd(fd); } finally { closeSync(fd); }
}

/**
 * Write-temp, fsync, rename, fsync dir: a crash leaves the old file or the new one, never half.
 * Directories this call had to create are made durable too (their parents fsynced), so the
 * first file of a new directory does not vanish with it.
 * With `sync: false` the fsyncs are left to the caller (a syncfs that follows), and a crash
 * before it may leave the file empty or missing.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600, opts: { sync?: boolean } = {}): Promise<void> {
  if (opts.sync === false) return writeFileAtomicNow(path, data, mode);
  const dir = dirname(path);
  const made = mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      writeFileSync(fd, data);
      await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    // A failed write (a full disk) leaves no temp file behind: only start-up repair would
    // find it, and a long-running process may not start again for weeks.
    rmSync(tmp, { force: true });
    throw e;
  }
  await fsyncPath(dir);
  if (made) await fsyncMadeDirs(made, dir);
}

/**
 * writeFileAtomic without fsyncs, in synchronous calls: a few microseconds each, where
 * every await of the promise API costs a thread pool round trip (behind inflate jobs).
 */
function writeFileAtomicNow(path: string, data: string | Buffer, mode: number): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    writeFileSync(tmp, data, { mode, flag: 'wx' });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** fsync the parent of every directory from `first` (the top one mkdir made) down to `dir`. */
async function fsyncMadeDirs(first: string, dir: string): Promise<void> {
  for (let d = dir; ; d = dirname(d)) {
    const parent = dirname(d);
    if (parent === d) return;
    await fsyncPath(parent);
    if (d === first) return;
  }
}

/** Remove a file (absent is fine); with `sync`, fsync its directory so the removal survives a crash. */
export async function removeFile(path: string, opts: { sync?: boolean } = {}): Promise<boolean> {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  if (opts.sync) await fsyncPath(dirname(path));
  return true;
}

export async function writeJsonAtomic(path: string, value: unknown, opts: { sync?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', 0o600, opts);
}

export { writeFile };
