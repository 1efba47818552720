// Loop devices through /dev/loop-control and the loop ioctls (no losetup spawn).
import { openSync, closeSync, constants as fsConstants, existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { ioctl } from './ioctl.js';
import { mknod, S_IFBLK } from './mknod.js';
import { SyscallError } from '../errors/index.js';

const LOOP_SET_FD = 0x4c00;
const LOOP_CLR_FD = 0x4c01;
const LOOP_SET_STATUS64 = 0x4c04;
const LOOP_CONFIGURE = 0x4c0a;
const LOOP_CTL_GET_FREE = 0x4c82;
export const LO_FLAGS_READ_ONLY = 1;
/** Detach by itself when the last user (the mount) lets go: an unmount leaves nothing attached. */
export const LO_FLAGS_AUTOCLEAR = 4;

const EBUSY = 16, EINVAL = 22, ENOTTY = 25;
const LOOP_INFO64_SIZE = 232;
const LOOP_CONFIG_SIZE = 304;

export interface AttachedLoop {
  /** /dev/loopN */
  device: string;
  /** An open fd on the device: keep it until the device is mounted, then close it (autoclear). */
  fd: number;
}

/** The /dev node of loop device N, made when /dev is a plain tmpfs without it. */
function loopNode(n: number): string {
  const dev = `/dev/loop${n}`;
  if (!existsSync(dev)) {
    const [major, minor] = readFileSync(`/sys/block/loop${n}/dev`, 'utf8').trim().split(':').map(Number);
    try { mknod(dev, S_IFBLK | 0o660, major, minor); } catch (e) {
      if (!(e instanceof SyscallError && e.errno === 17 /* EEXIST: another process made it */)) throw e;
    }
  }
  return dev;
}

function loopInfo(file: string, flags: number): Buffer {
  const info = Buffer.alloc(LOOP_INFO64_SIZE);
  info.writeUInt32LE(flags, 52);
  Buffer.from(file).subarray(0, 63).copy(info, 56); // lo_file_name: informational only
  return info;
}

/**
 * Attach `file` to a free loop device. Two processes can be handed the same free device;
 * the loser gets EBUSY and asks again.
 */
export function attachLoop(file: string, opts: { autoclear?: boolean; readOnly?: boolean } = {}): AttachedLoop {
  const flags = (opts.autoclear ? LO_FLAGS_AUTOCLEAR : 0) | (opts.readOnly ? LO_FLAGS_READ_ONLY : 0);
  const openMode = opts.readOnly ? fsConstants.O_RDONLY : fsConstants.O_RDWR;
  const fileFd = openSync(file, openMode);
  try {
    for (let attempt = 0; ; attempt++) {
      const ctl = openSync('/dev/loop-control', fsConstants.O_RDWR);
      let n: number;
      try { n = ioctl(ctl, LOOP_CTL_GET_FREE, 0, 'LOOP_CTL_GET_FREE'); } finally { closeSync(ctl); }
      const device = loopNode(n);
      const fd = openSync(device, openMode);
      try {
        configure(fd, fileFd, file, flags, device);
        return { device, fd };
      } catch (e) {
        closeSync(fd);
        if (e instanceof SyscallError && e.errno === EBUSY && attempt < 20) continue;
        throw e;
      }
    }
  } finally {
    closeSync(fileFd);
  }
}

function configure(fd: number, fileFd: number, file: string, flags: number, device: string): void {
  const cfg = Buffer.alloc(LOOP_CONFIG_SIZE);
  cfg.writeUInt32LE(fileFd, 0);
  loopInfo(file, flags).copy(cfg, 8);
  try {
    ioctl(fd, LOOP_CONFIGURE, cfg, `LOOP_CONFIGURE ${device} <- ${file}`);
  } catch (e) {
    // Kernels before 5.8 lack LOOP_CONFIGURE: the two-step form.
    if (!(e instanceof SyscallError && (e.errno === EINVAL || e.errno === ENOTTY))) throw e;
    ioctl(fd, LOOP_SET_FD, fileFd, `LOOP_SET_FD ${device} <- ${file}`);
    try {
      ioctl(fd, LOOP_SET_STATUS64, loopInfo(file, flags), `LOOP_SET_STATUS64 ${device}`);
    } catch (e2) {
      ioctl(fd, LOOP_CLR_FD, 0, `LOOP_CLR_FD ${device}`);
      throw e2;
    }
  }
}

/** Detach a loop device; one that is not attached is not an error. */
export function detachLoop(device: string): void {
  const fd = openSync(device, fsConstants.O_RDONLY);
  try {
    ioctl(fd, LOOP_CLR_FD, 0, `LOOP_CLR_FD ${device}`);
  } catch (e) {
    if (!(e instanceof SyscallError && e.errno === 6 /* ENXIO: not attached */)) throw e;
  } finally {
    closeSync(fd);
  }
}

/** The loop devices (/dev/loopN) whose backing file is `file`. */
export function loopDevicesFor(file: string): string[] {
  let want: string;
  try { want = realpathSync(file); } catch { want = file; }
  const out: string[] = [];
  let names: string[];
  try { names = readdirSync('/sys/block'); } catch { return out; }
  for (const name of names) {
    if (!/^loop\d+$/.test(name)) continue;
    let backing: string;
    try { backing = readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim(); } catch { continue; }
    if (backing.endsWith(' (deleted)')) backing = backing.slice(0, -' (deleted)'.length);
    if (backing === want) out.push(`/dev/${name}`);
  }
  return out;
}
