// Decoding of the fields inside tar headers and PAX extended headers.
// Names are kept as "byte strings" (latin1: one char per byte) so any byte sequence a
// layer uses as a file name survives to the file system unchanged.

/** A malformed field or record; the reader turns it into an InvalidLayerError. */
export class TarFormatError extends Error {}

/** A NUL-terminated string field, as bytes. */
export function cstring(b: Buffer, off: number, len: number): string {
  let end = b.indexOf(0, off);
  if (end < 0 || end > off + len) end = off + len;
  return b.toString('latin1', off, end);
}

/**
 * A numeric header field: octal text, or GNU/star base-256 when the high bit of the first
 * byte is set (0x80 positive, 0xff negative, two's complement big-endian), which tars use
 * for values octal cannot hold. As Go's archive/tar (what containerd reads layers with):
 * spaces and NULs around the digits are dropped, and the digits end at the first NUL.
 */
export function numeric(b: Buffer, off: number, len: number, field: string): number {
  if (b[off]! & 0x80) return base256(b, off, len, field);
  let i = off, end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  while (end > i && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  let v = 0;
  for (; i < end; i++) {
    if (b[i] === 0) break;
    const d = b[i]! - 0x30;
    if (d < 0 || d > 7) throw new TarFormatError(`${field} field is not an octal number: ${JSON.stringify(b.toString('latin1', off, off + len))}`);
    v = v * 8 + d;
  }
  return v;
}

/** Whether a numeric field parses (Go reads some optional fields only when they do). */
export function isNumeric(b: Buffer, off: number, len: number): boolean {
  try {
    numeric(b, off, len, '');
    return true;
  } catch {
    return false;
  }
}

function base256(b: Buffer, off: number, len: number, field: string): number {
  const negative = (b[off]! & 0x40) !== 0;
  const inv = negative ? 0xff : 0;
  let x = 0n;
  for (let i = 0; i < len; i++) {
    let c = b[off + i]! ^ inv;
    if (i === 0) c &= 0x7f;
    x = (x << 8n) | BigInt(c);
  }
  const v = negative ? -x - 1n : x;
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new TarFormatError(`${field} field (base-256) is out of range`);
  }
  return Number(v);
}

/**
 * The header checksum: the unsigned byte sum with the checksum field read as spaces. Every
 * entry's header is summed, so without a branch per byte; signedChecksum only on a mismatch.
 */
export function checksum(b: Buffer): number {
  let s = 8 * 0x20;
  for (let i = 0; i < 148; i++) s += b[i]!;
  for (let i = 156; i < 512; i++) s += b[i]!;
  return s;
}

/** The same with the bytes read as signed, as old tars summed them. */
export function signedChecksum(b: Buffer): number {
  let s = checksum(b);
  for (let i = 0; i < 512; i++) if ((i < 148 || i >= 156) && b[i]! > 127) s -= 256;
  return s;
}

export function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < 512; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * PAX extended header records: "LEN KEY=VALUE\n", LEN counting the whole record.
 * Values stay raw bytes: SCHILY.xattr values are binary (security.capability).
 * A record with an empty value deletes the key (POSIX), reported here as an empty Buffer.
 * As Go's reader: a key with a NUL, or a path, linkpath, uname or gname value with one, is
 * malformed; the repeated GNU.sparse.offset/numbytes records of GNU sparse format 0.0 are
 * collected, in order, into one GNU.sparse.map value ("offset,length,offset,length...").
 */
export function parsePaxRecords(body: Buffer, into: Map<string, Buffer>): void {
  let i = 0;
  let sparse: string[] | undefined;
  while (i < body.length) {
    if (body[i] === 0) break; // some writers pad the body with NULs
    const sp = body.indexOf(0x20, i);
    if (sp < 0 || sp === i || sp - i > 20) throw new TarFormatError(`malformed PAX record at byte ${i}: no length`);
    let len = 0;
    for (let j = i; j < sp; j++) {
      const d = body[j]! - 0x30;
      if (d < 0 || d > 9) throw new TarFormatError(`malformed PAX record at byte ${i}: bad length`);
      len = len * 10 + d;
    }
    const end = i + len;
    if (len <= sp - i + 2 || end > body.length || body[end - 1] !== 0x0a) {
      throw new TarFormatError(`malformed PAX record at byte ${i}: length ${len} does not fit`);
    }
    const eq = body.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= end - 1 || eq === sp + 1) throw new TarFormatError(`malformed PAX record at byte ${i}: no key`);
    const key = body.toString('utf8', sp + 1, eq);
    const value = Buffer.from(body.subarray(eq + 1, end - 1));
    if (key.includes('\0')) throw new TarFormatError(`malformed PAX record at byte ${i}: the key has a NUL byte`);
    if ((key === 'path' || key === 'linkpath' || key === 'uname' || key === 'gname') && value.includes(0)) {
      throw new TarFormatError(`PAX ${key} has a NUL byte`);
    }
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      sparse ??= [];
      const want = sparse.length % 2 === 0 ? 'GNU.sparse.offset' : 'GNU.sparse.numbytes';
      if (key !== want || value.includes(0x2c)) throw new TarFormatError(`PAX sparse map records (format 0.0) are out of order at byte ${i}`);
      sparse.push(value.toString('latin1'));
    } else {
      into.set(key, value);
    }
    i = end;
  }
  if (sparse) into.set('GNU.sparse.map', Buffer.from(sparse.join(','), 'latin1'));
}

/** A decimal PAX integer (uid, gid, size). Leading zeros are fine (Go's testdata has 24-digit sizes). */
export function paxInteger(v: Buffer, key: string): number {
  const n = decimal(v.toString('latin1'));
  if (n === undefined) throw new TarFormatError(`PAX ${key} is not a decimal integer in range: ${JSON.stringify(v.toString('latin1').slice(0, 40))}`);
  return n;
}

/** A non-negative decimal number ("+" allowed, as strconv.ParseInt) that is a safe integer, else undefined. */
export function decimal(s: string): number | undefined {
  const m = /^\+?0*([0-9]{1,16})$/.exec(s);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A PAX time: "[-]SECONDS[.FRACTION]" to whole seconds and nanoseconds (floor, so -1.5 is -2 s + 0.5e9 ns). */
export function paxTime(v: Buffer, key: string): { sec: number; nsec: number } {
  const s = v.toString('latin1');
  const m = /^([-+]?)0*([0-9]{1,15})(?:\.([0-9]*))?$/.exec(s);
  if (!m) throw new TarFormatError(`PAX ${key} is not a time: ${JSON.stringify(s)}`);
  let sec = Number(m[2]);
  let nsec = Number((m[3] ?? '').slice(0, 9).padEnd(9, '0'));
  if (m[1] === '-') {
    sec = -sec;
    if (nsec > 0) { sec -= 1; nsec = 1e9 - nsec; }
  }
  return { sec, nsec };
}
