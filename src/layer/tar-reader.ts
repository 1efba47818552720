// A streaming tar reader: bytes are pushed in as they arrive, entries and their data go
// out to a sink synchronously. Data chunks are views of the pushed buffers (no copy).
//
// Formats: POSIX ustar (name prefix), PAX 'x'/'g' headers (path, linkpath, size, uid, gid,
// mtime with fractions, SCHILY.xattr.* and LIBARCHIVE.xattr.* as raw bytes), GNU
// ('ustar  ' magic, 'L'/'K' long names, base-256 numbers), and old v7 headers.
//
// End of archive, following Go's archive/tar (what containerd uses): two zero blocks, one
// zero block at the end of the stream, or the stream simply ending at an entry boundary.
// A zero block followed by a header is an error (a reader that stopped at the zero
// block, like GNU tar, would see a different layer). Bytes after the end are ignored.
// A stream that stops inside a header, a body, its padding or an extended header is
// truncated.
import { TarFormatError, cstring, numeric, checksums, isZeroBlock, parsePaxRecords, paxInteger, paxTime } from './tar-fields.js';

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  /** The name as bytes (latin1 string), as stored: not yet cleaned. */
  name: string;
  type: EntryType;
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Body size (regular files only; 0 for every other type). */
  size: number;
  mtime: { sec: number; nsec: number };
  /** Symlink target or hardlink target name, as bytes (latin1 string). */
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: [name: string, value: Buffer][];
  /** Offset of this entry's header in the tar stream. */
  offset: number;
}

export interface TarSink {
  entry(h: TarHeader): void;
  data(chunk: Buffer): void;
  entryEnd(): void;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

/** Cap on one extended header (PAX or GNU long name): real ones are a few KiB. */
const MAX_EXTENDED = 8 << 20;

const enum S { Header, Body, Extended, Pad, AfterZero, Done }

type ExtKind = 'x' | 'g' | 'L' | 'K' | 'skip';

export class TarReader {
  private state = S.Header;
  private readonly block = Buffer.allocUnsafe(512);
  private fill = 0;
  private left = 0; // bytes left in the current body or extended header
  private pad = 0; // padding bytes left after it
  private ext: Buffer[] = [];
  private extKind: ExtKind = 'x';
  private pax: Map<string, Buffer> | undefined;
  private readonly globalPax = new Map<string, Buffer>();
  private longName: string | undefined;
  private longLink: string | undefined;
  private pos = 0; // bytes consumed
  private headerAt = 0;
  /** Entries handed to the sink. */
  entries = 0;

  constructor(private readonly sink: TarSink) {}

  /** Bytes of the tar stream consumed so far. */
  get offset(): number {
    return this.pos;
  }

  get done(): boolean {
    return this.state === S.Done;
  }

  push(buf: Buffer): void {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case S.Body: {
          const take = Math.min(this.left, n - i);
          const part = buf.subarray(i, i + take);
          i += take;
          this.pos += take;
          this.left -= take;
          this.sink.data(part);
          if (this.left === 0) this.endBody();
          break;
        }
        case S.Extended: {
          const take = Math.min(this.left, n - i);
          if (this.extKind !== 'skip') this.ext.push(Buffer.from(buf.subarray(i, i + take)));
          i += take;
          this.pos += take;
          this.left -= take;
          if (this.left === 0) {
            this.endExtended();
            this.state = this.pad > 0 ? S.Pad : S.Header;
          }
          break;
        }
        case S.Pad: {
          const take = Math.min(this.pad, n - i);
          i += take;
          this.pos += take;
          this.pad -= take;
          if (this.pad === 0) this.state = S.Header;
          break;
        }
        case S.Done:
          this.pos += n - i;
          return;
        default: {
          // Header or AfterZero: a whole 512-byte block, straight from the input when it is all there.
          let hdr: Buffer;
          if (this.fill === 0 && n - i >= 512) {
            hdr = buf.subarray(i, i + 512);
            i += 512;
            this.pos += 512;
          } else {
            const take = Math.min(512 - this.fill, n - i);
            buf.copy(this.block, this.fill, i, i + take);
            this.fill += take;
            i += take;
            this.pos += take;
            if (this.fill < 512) return;
            this.fill = 0;
            hdr = this.block;
          }
          this.headerAt = this.pos - 512;
          this.header(hdr);
        }
      }
    }
  }

  /** The stream ended: throw if it ended anywhere but at an entry boundary. */
  end(): void {
    if (this.state === S.Done || this.state === S.AfterZero) return;
    if (this.state === S.Header && this.fill === 0 && !this.pax && this.longName === undefined && this.longLink === undefined) return;
    const where = this.state === S.Body ? 'inside an entry\'s data'
      : this.state === S.Pad ? 'inside an entry\'s padding'
      : this.state === S.Extended ? 'inside an extended header'
      : this.fill > 0 ? 'inside a header' : 'after an extended header, before its entry';
    throw new TarFormatError(`tar stream is truncated: it ends ${where} at offset ${this.pos}`);
  }

  private endBody(): void {
    this.sink.entryEnd();
    this.state = this.pad > 0 ? S.Pad : S.Header;
  }

  private header(h: Buffer): void {
    if (isZeroBlock(h)) {
      this.state = this.state === S.AfterZero ? S.Done : S.AfterZero;
      return;
    }
    const at = this.headerAt;
    if (this.state === S.AfterZero) throw new TarFormatError(`a header at offset ${at} follows a zero block (end-of-archive marker)`);
    const stored = numeric(h, 148, 8, 'checksum');
    const sums = checksums(h);
    if (stored !== sums.unsigned && stored !== sums.signed) {
      throw new TarFormatError(`header at offset ${at} has a bad checksum (stored ${stored}, computed ${sums.unsigned}): not a tar stream, or corrupt`);
    }
    const flag = String.fromCharCode(h[156]!);
    let size = numeric(h, 124, 12, 'size');
    if (size < 0) throw new TarFormatError(`header at offset ${at} has a negative size`);

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K' || flag === 'V') {
      if (size > MAX_EXTENDED && flag !== 'V') throw new TarFormatError(`extended header at offset ${at} is too large (${size} bytes)`);
      this.extKind = flag === 'V' ? 'skip' : flag;
      this.ext = [];
      this.left = size;
      this.pad = (512 - (size % 512)) % 512;
      if (size === 0) this.endExtended();
      else this.state = S.Extended;
      return;
    }

    const magic = h.toString('latin1', 257, 263);
    const ustar = magic === 'ustar\0';
    const gnu = magic === 'ustar ';
    let type = TYPES[flag];
    if (!type) {
      const what = flag === 'S' ? 'GNU sparse file' : flag === 'M' ? 'multi-volume continuation' : `type '${flag.replace(/[^\x20-\x7e]/g, '?')}'`;
      throw new TarFormatError(`entry at offset ${at} is a ${what}, which layers do not use and groot does not unpack`);
    }
    let name = cstring(h, 0, 100);
    if (ustar) {
      const prefix = cstring(h, 345, 155);
      if (prefix) name = prefix + '/' + name;
    }
    // v7 tars marked directories only by a trailing slash.
    if (flag === '\0' && name.endsWith('/')) type = 'dir';
    let linkname = cstring(h, 157, 100);
    let uid = numeric(h, 108, 8, 'uid');
    let gid = numeric(h, 116, 8, 'gid');
    let mtime = { sec: numeric(h, 136, 12, 'mtime'), nsec: 0 };
    const mode = numeric(h, 100, 8, 'mode') & 0o7777;
    let devmajor = 0, devminor = 0;
    if ((ustar || gnu) && (type === 'char' || type === 'block')) {
      devmajor = numeric(h, 329, 8, 'devmajor');
      devminor = numeric(h, 337, 8, 'devminor');
    }
    if (this.longName !== undefined) name = this.longName;
    if (this.longLink !== undefined) linkname = this.longLink;
    const xattrs: [string, Buffer][] = [];
    const apply = (k: string, v: Buffer, global: boolean) => {
      if (k.startsWith('SCHILY.xattr.')) xattrs.push([k.slice(13), v]);
      else if (k.startsWith('LIBARCHIVE.xattr.')) xattrs.push([libarchiveXattrName(k.slice(17), at), Buffer.from(v.toString('latin1'), 'base64')]);
      else if (k.startsWith('GNU.sparse.')) throw new TarFormatError(`entry at offset ${at} is a PAX sparse file, which groot does not unpack`);
      else if (v.length === 0) return; // "key=" unsets a global value: keep the header's
      else if (k === 'uid') uid = paxInteger(v, k);
      else if (k === 'gid') gid = paxInteger(v, k);
      else if (k === 'mtime') mtime = paxTime(v, k);
      // A global path, linkpath or size would apply to every entry: ignored as meaningless.
      else if (global) return;
      else if (k === 'path') name = v.toString('latin1');
      else if (k === 'linkpath') linkname = v.toString('latin1');
      else if (k === 'size') size = paxInteger(v, k);
    };
    for (const [k, v] of this.globalPax) apply(k, v, true);
    if (this.pax) for (const [k, v] of this.pax) apply(k, v, false);
    this.pax = undefined;
    this.longName = this.longLink = undefined;
    // Only regular files carry data; other types' size fields are ignored (as Go's reader does).
    if (type !== 'file') size = 0;
    // Later records for the same xattr win.
    const dedup = xattrs.length > 1 ? [...new Map(xattrs)] : xattrs;
    this.entries++;
    this.sink.entry({ name, type, mode, uid, gid, size, mtime, linkname, devmajor, devminor, xattrs: dedup, offset: at });
    this.left = size;
    this.pad = (512 - (size % 512)) % 512;
    if (size > 0) this.state = S.Body;
    else this.endBody();
  }

  private endExtended(): void {
    const body = Buffer.concat(this.ext);
    this.ext = [];
    switch (this.extKind) {
      case 'x':
        this.pax ??= new Map();
        parsePaxRecords(body, this.pax);
        break;
      case 'g':
        parsePaxRecords(body, this.globalPax);
        break;
      case 'L':
        this.longName = cstring(body, 0, body.length);
        break;
      case 'K':
        this.longLink = cstring(body, 0, body.length);
        break;
      default:
        break;
    }
  }
}

function libarchiveXattrName(encoded: string, at: number): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new TarFormatError(`entry at offset ${at} has a badly encoded LIBARCHIVE.xattr name`);
  }
}
