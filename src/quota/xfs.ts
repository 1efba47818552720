// Project quotas (XFS, and ext4 mounted with prjquota) through libc: FS_IOC_FSSETXATTR puts a
// project id with PROJINHERIT on the rootfs dir, so everything made below it is charged to
// that project; quotactl sets the project's block limit and reads its usage.
import { existsSync } from 'node:fs';
import { mkdir, readdir, lstat, stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QuotaBackend } from './types.js';
import { ProjectIds } from './project-ids.js';
import { fsGetXattr, fsSetXattr, FS_XFLAG_PROJINHERIT } from '../sys/ioctl.js';
import { xGetQuota, xSetBlockLimit, getQuota, setBlockLimit, PRJQUOTA, type QuotaUsage } from '../sys/quotactl.js';
import { mountOf } from '../sys/mount.js';
import { QuotaError, SyscallError } from '../errors/index.js';
import { logger } from '../log/index.js';

const log = logger('quota-xfs');
const ENOENT = 2, EINVAL = 22, ENOSYS = 38, EOPNOTSUPP = 95;

export interface XfsBackendOptions {
  storePath: string;
  /** Where project id files live; default <store>/projectids. */
  idsDir?: string;
}

export class XfsQuotaBackend implements QuotaBackend {
  readonly kind = 'xfs' as const;
  private readonly ids: ProjectIds;
  /** The XFS-style quotactl calls, or the generic VFS ones when a filesystem refuses them. */
  private api: 'x' | 'vfs' = 'x';

  constructor(readonly opts: XfsBackendOptions) {
    this.ids = new ProjectIds(opts.idsDir ?? join(opts.storePath, 'projectids'));
  }

  async assign(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const device = await this.device(dir);
    const current = fsGetXattr(dir).projid;
    // A re-run after a crash: the dir already carries the id it was given.
    if (current !== 0 && (await this.ids.owner(current)) === dir) return;
    const id = await this.ids.allocate(dir, (candidate) => this.isClean(device, candidate));
    try {
      await setProject(dir, id);
    } catch (e) {
      await this.ids.free(id);
      throw new QuotaError(`cannot put ${dir} in project ${id}: ${(e as Error).message}`, { cause: e });
    }
    log.debug({ dir, projectId: id }, 'project id assigned');
  }

  async setLimit(dir: string, bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new QuotaError(`disk limit ${bytes} for ${dir} is not a whole number of bytes >= 0`);
    const id = this.projectOf(dir);
    const device = await this.device(dir);
    this.withApi(() => xSetBlockLimit(device, PRJQUOTA, id, bytes), () => setBlockLimit(device, PRJQUOTA, id, bytes), dir);
  }

  async usage(dir: string): Promise<number> {
    const id = this.projectOf(dir);
    return this.read(await this.device(dir), id, dir).usedBytes;
  }

  async release(dir: string): Promise<void> {
    let id: number | undefined;
    try {
      id = fsGetXattr(dir).projid || undefined;
    } catch (e) {
      if (!(e instanceof SyscallError && e.errno === ENOENT) && (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (id !== undefined && (await this.ids.owner(id)) !== dir) id = undefined; // not ours
    id ??= await this.ids.find(dir);
    if (id === undefined) return;
    try {
      const device = await this.device(dir);
      this.withApi(() => xSetBlockLimit(device, PRJQUOTA, id, 0), () => setBlockLimit(device, PRJQUOTA, id, 0), dir);
    } catch (e) {
      // The id is still freed: allocation skips ids that still hold bytes.
      log.warn({ dir, projectId: id, err: (e as Error).message }, 'could not clear the project limit');
    }
    await this.ids.free(id);
  }

  /** The project id on dir's inode; 0 means assign() never ran on it. */
  private projectOf(dir: string): number {
    const id = fsGetXattr(dir).projid;
    if (id === 0) throw new QuotaError(`${dir} has no project id: the quota was never assigned`);
    return id;
  }

  private isClean(device: string, id: number): boolean {
    const u = this.read(device, id, `project ${id}`);
    return u.usedBytes === 0 && u.inodes === 0;
  }

  private read(device: string, id: number, what: string): QuotaUsage {
    try {
      return this.withApi(() => xGetQuota(device, PRJQUOTA, id), () => getQuota(device, PRJQUOTA, id), what);
    } catch (e) {
      // XFS answers ENOENT for a project that has never been charged anything.
      if (e instanceof QuotaError && e.cause instanceof SyscallError && e.cause.errno === ENOENT) {
        return { hardLimitBytes: 0, softLimitBytes: 0, usedBytes: 0, inodes: 0 };
      }
      throw e;
    }
  }

  private withApi<T>(x: () => T, vfs: () => T, what: string): T {
    try {
      if (this.api === 'x') {
        try {
          return x();
        } catch (e) {
          if (!(e instanceof SyscallError && [EINVAL, ENOSYS, EOPNOTSUPP].includes(e.errno))) throw e;
          this.api = 'vfs';
          log.debug({ err: e.message }, 'XFS quotactl calls refused; using the generic ones');
        }
      }
      return vfs();
    } catch (e) {
      throw new QuotaError(`project quota of ${what}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The block device under dir's filesystem: quotactl addresses a filesystem by it. */
  private async device(dir: string): Promise<string> {
    const m = await mountOf(dir);
    if (m && m.source.startsWith('/') && existsSync(m.source)) return m.source;
    // Some systems show the root filesystem as /dev/root, which has no node: go by st_dev.
    const byDev = await blockDeviceOf(dir);
    if (byDev) return byDev;
    throw new QuotaError(`cannot find the block device of the filesystem holding ${dir} (mount source ${m?.source ?? 'unknown'})`);
  }
}

/** The /dev node of the block device holding path, found by its st_dev (undefined when it has none). */
export async function blockDeviceOf(path: string): Promise<string | undefined> {
  try {
    const dev = (await stat(path, { bigint: true })).dev;
    const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
    const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
    const uevent = await readFile(`/sys/dev/block/${major}:${minor}/uevent`, 'utf8');
    const name = /^DEVNAME=(.+)$/m.exec(uevent)?.[1];
    return name && existsSync(`/dev/${name}`) ? `/dev/${name}` : undefined;
  } catch {
    return undefined;
  }
}

/** Project id + PROJINHERIT on dir and on whatever is already inside it. */
async function setProject(dir: string, id: number): Promise<void> {
  const st = await lstat(dir);
  if (st.isDirectory()) {
    fsSetXattr(dir, (x) => ({ ...x, projid: id, xflags: x.xflags | FS_XFLAG_PROJINHERIT }));
    for (const name of await readdir(dir)) await setProject(join(dir, name), id);
  } else if (st.isFile()) {
    fsSetXattr(dir, (x) => ({ ...x, projid: id }));
  }
  // Symlinks and device nodes cannot be opened for the ioctl; they hold no data blocks.
}
