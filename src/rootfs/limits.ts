// Disk limits, GrootFS semantics: the limit is set on what the container writes (its upper
// dir). Inclusive (default): the image's unpacked size counts against the limit, so the
// upper gets diskLimit - imageSize. Exclusive (excludeImageFromQuota): the upper gets
// diskLimit. 0 = no limit. Tiny limits are raised to a floor, as GrootFS does, because
// XFS cannot hold a rootfs's own metadata in less.
import { InvalidArgumentError, QuotaExceededError } from '../errors/index.js';

export const MIN_QUOTA_BYTES = 256 * 1024;

export function checkDiskLimit(diskLimitBytes: number): void {
  if (!Number.isSafeInteger(diskLimitBytes) || diskLimitBytes < 0) {
    throw new InvalidArgumentError(`disk limit cannot be negative or fractional: got ${diskLimitBytes}`);
  }
}

/** Bytes to limit the rootfs's upper dir to; 0 = none. */
export function upperLimit(diskLimitBytes: number, excludeImageFromQuota: boolean, imageSize: number): number {
  checkDiskLimit(diskLimitBytes);
  if (diskLimitBytes === 0) return 0;
  let limit = diskLimitBytes;
  if (!excludeImageFromQuota) {
    limit -= imageSize;
    if (limit < 0) {
      throw new QuotaExceededError(`disk limit is smaller than volume size: the image takes ${imageSize} bytes and the disk limit is ${diskLimitBytes} bytes`);
    }
  }
  return Math.max(limit, MIN_QUOTA_BYTES);
}
