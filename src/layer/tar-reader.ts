// A streaming tar reader: bytes are pushed in as they arrive, entries and their data go
// out to a sink synchronously. Data chunks are views of the pushed buffers (no copy).
//
// It reads what Go's archive/tar reads, since that is what containerd, umoci, buildkit and
// skopeo unpack layers with, and frames the stream exactly as Go does, so every tool sees
// the same entries: POSIX ustar (name prefix; star's shorter prefix), PAX 'x' headers (path,
// linkpath, size, uid, gid, mtime with fractions and negative times, SCHILY.xattr.* and
// LIBARCHIVE.xattr.* as raw bytes), GNU ('ustar  ' magic, 'L'/'K' long names, base-256
// numbers), old v7 headers, and GNU sparse files in every form GNU tar writes (sparse.ts).
//
// Where Go and the tar tools agree, so does this reader:
// - The last 'x' header before an entry is the one that counts; so is the last 'L'/'K'.
//   GNU long names win over PAX path/linkpath.
// - PAX global headers ('g') are read and ignored: Go hands them to the caller as entries
//   and containerd skips them, so their records never apply to later entries.
// - Header-only types (links, devices, dirs, fifos) have no data, whatever the size field
//   says; a hardlink's size is ignored (Go does, and containerd with it).
// - Type '\0' with a name ending in '/' is a directory (old tars), with no data as in Go;
//   so is type '0' ending in '/' (GNU tar's reading), whose data is skipped.
// - Vendor types 'A'-'Z' groot has no use for (GNU volume labels 'V', Solaris 'X'/'A', star
//   'I', ...) are skipped with their data and reported to the sink; GNU dumpdir 'D' is a
//   directory whose listing is skipped; 'M' (a multi-volume continuation) is refused.
//
// End of archive, as Go: two zero blocks, one zero block at the end of the stream, or the
// stream simply ending between entries (also inside padding, or after an extended header
// with no entry). A zero block followed by a header is an error (a reader that stopped at
// the zero block, like GNU tar, would see a different layer). Bytes after the end are
// ignored. A stream that stops inside a header, a body or an extended header is truncated.
import { TarFormatError, cstring, numeric, isNumeric, checksum, signedChecksum, isZeroBlock, parsePaxRecords, paxInteger, paxTime } from './tar-fields.js';
import { SparseMap1x0, checkSegments, oldGnuRealSize, oldGnuSegments, paxMap, type SparseSegment } from './sparse.js';

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';
export type { SparseSegment } from './sparse.js';

export interface TarHeader {
  /** The name as bytes (latin1 string), as stored: not yet cleaned. */
  name: string;
  type: EntryType;
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** The file's size (regular files only; 0 for every other type). A sparse file's real size, holes included. */
  size: number;
  mtime: { sec: number; nsec: number };
  /** Symlink target or hardlink target name, as bytes (latin1 string). */
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: [name: string, value: Buffer][];
  /** Offset of this entry's header in the tar stream. */
  offset: number;
  /** A sparse file's data segments, in order; the rest of the file is holes. */
  sparse?: SparseSegment[];
}

export interface TarSink {
  entry(h: TarHeader): void;
  /**
   * The next piece of the entry's content. `at` is its offset in the file for sparse files
   * (with holes between pieces); undefined means right after the previous piece.
   */
  data(chunk: Buffer, at?: number): void;
  entryEnd(): void;
  /** An entry groot does not unpack was skipped (`what` says which kind). */
  skipped?(what: string, name: string, offset: number): void;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

const VENDOR: Record<string, string> = {
  V: 'GNU volume label', N: 'old GNU long-name list', I: 'star inode metadata',
  X: 'Solaris extended header', A: 'Solaris ACL', E: 'Solaris extended attribute',
};

/** Cap on one extended header (PAX or GNU long name): real ones are a few KiB. */
const MAX_EXTENDED = 8 << 20;

const enum S { Header, Body, Extended, Pad, AfterZero, Done, SparseExt, SparseMap }
/** What a body's bytes are: skipped, the file's content in order, or sparse segments. */
const enum D { Skip, Data, Sparse }

type ExtKind = 'x' | 'g' | 'L' | 'K';

export class TarReader {
  private state = S.Header;
  private readonly block = Buffer.allocUnsafe(512);
  private fill = 0;
  private left = 0; // bytes left in the current body or extended header
  private pad = 0; // padding bytes left after it
  private ext: Buffer[] = [];
  private extKind: ExtKind = 'x';
  private pax: Map<string, Buffer> | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  private pos = 0; // bytes consumed
  private headerAt = 0;
  private body = D.Skip;
  private open = false; // an entry was handed to the sink and not yet ended
  // A sparse entry: its header (until the map is read), segments, and where we are in them.
  private pending: TarHeader | undefined;
  private segs: SparseSegment[] = [];
  private seg = 0;
  private segAt = 0;
  private segLeft = 0;
  private map1x0: SparseMap1x0 | undefined;
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
          if (this.body === D.Data) this.sink.data(part);
          else if (this.body === D.Sparse) this.sparseData(part);
          if (this.left === 0) this.endBody();
          break;
        }
        case S.Extended: {
          const take = Math.min(this.left, n - i);
          this.ext.push(Buffer.from(buf.subarray(i, i + take)));
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
          // Header, AfterZero, SparseExt, SparseMap: a whole 512-byte block, straight from
          // the input when it is all there.
          let blk: Buffer;
          if (this.fill === 0 && n - i >= 512) {
            blk = buf.subarray(i, i + 512);
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
            blk = this.block;
          }
          if (this.state === S.SparseExt) this.sparseExtBlock(blk);
          else if (this.state === S.SparseMap) this.sparseMapBlock(blk);
          else {
            this.headerAt = this.pos - 512;
            this.header(blk);
          }
        }
      }
    }
  }

  /** The stream ended: throw if it ended anywhere but between entries. */
  end(): void {
    if (this.state === S.Done || this.state === S.AfterZero || this.state === S.Pad) return;
    if (this.state === S.Header && this.fill === 0) return;
    const where = this.state === S.Body ? 'inside an entry\'s data'
      : this.state === S.Extended ? 'inside an extended header'
      : this.state === S.SparseExt || this.state === S.SparseMap ? 'inside a sparse file\'s map'
      : 'inside a header';
    throw new TarFormatError(`tar stream is truncated: it ends ${where} at offset ${this.pos}`);
  }

  private endBody(): void {
    if (this.open) {
      this.open = false;
      this.sink.entryEnd();
    }
    this.state = this.pad > 0 ? S.Pad : S.Header;
  }

  /** Start an entry's body of `size` bytes (padded to a block). */
  private startBody(size: number, body: D): void {
    this.body = body;
    this.left = size;
    this.pad = (512 - (size % 512)) % 512;
    if (size > 0) this.state = S.Body;
    else this.endBody();
  }

  private header(h: Buffer): void {
    if (isZeroBlock(h)) {
      this.state = this.state === S.AfterZero ? S.Done : S.AfterZero;
      return;
    }
    const at = this.headerAt;
    if (this.state === S.AfterZero) throw new TarFormatError(`a header at offset ${at} follows a zero block (end-of-archive marker)`);
    const stored = numeric(h, 148, 8, 'checksum');
    const sum = checksum(h);
    if (stored !== sum && stored !== signedChecksum(h)) {
      throw new TarFormatError(`header at offset ${at} has a bad checksum (stored ${stored}, computed ${sum}): not a tar stream, or corrupt`);
    }
    const flag = String.fromCharCode(h[156]!);
    let size = numeric(h, 124, 12, 'size');
    if (size < 0) throw new TarFormatError(`header at offset ${at} has a negative size`);

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_EXTENDED) throw new TarFormatError(`extended header at offset ${at} is too large (${size} bytes)`);
      this.extKind = flag;
      this.ext = [];
      this.left = size;
      this.pad = (512 - (size % 512)) % 512;
      if (size === 0) this.endExtended();
      else this.state = S.Extended;
      return;
    }

    let type: EntryType | undefined = TYPES[flag];
    let body = D.Data;
    if (!type) {
      if (flag === 'S') type = 'file';
      else if (flag === 'D') { type = 'dir'; body = D.Skip; } // GNU dumpdir: the listing is not part of the tree
      else if (flag === 'M') throw new TarFormatError(`entry at offset ${at} continues a file from another volume of a multi-volume archive; a layer must be one whole archive`);
      else if (flag >= 'A' && flag <= 'Z') {
        // Consumes the extended headers before it, as Go's reader does.
        const name = this.longName ?? this.pax?.get('path')?.toString('latin1') ?? cstring(h, 0, 100);
        this.pax = undefined;
        this.longName = this.longLink = undefined;
        this.sink.skipped?.(VENDOR[flag] ?? `vendor entry type '${flag}'`, name, at);
        this.startBody(size, D.Skip);
        return;
      } else {
        throw new TarFormatError(`entry at offset ${at} has the unknown type '${flag.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`);
      }
    }

    // Go's format detection: ustar magic (star if "tar\0" ends the block: a shorter prefix
    // field), GNU magic with its version, anything else is v7 (no prefix, no devices).
    const ustar = h[257] === 0x75 && h.toString('latin1', 257, 263) === 'ustar\0';
    const gnu = !ustar && h.toString('latin1', 257, 265) === 'ustar  \0';
    let name = cstring(h, 0, 100);
    if (ustar) {
      const star = h[508] === 0x74 && h.toString('latin1', 508, 512) === 'tar\0';
      const prefix = cstring(h, 345, star ? 131 : 155);
      if (prefix) name = prefix + '/' + name;
    } else if (gnu && (h[345] !== 0 || h[357] !== 0) && !(isNumeric(h, 345, 12) && isNumeric(h, 357, 12))) {
      // Go before 1.8 wrote a ustar prefix into GNU headers, where atime/ctime belong; Go
      // still reads it back as a prefix when those fields are not numbers (golang.org/issue/12594).
      const prefix = cstring(h, 345, 155);
      if (prefix && /^[\x01-\x7f]*$/.test(prefix)) name = prefix + '/' + name;
    }
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

    const xattrs: [string, Buffer][] = [];
    const pax = this.pax;
    if (pax) {
      for (const [k, v] of pax) {
        if (k.startsWith('SCHILY.xattr.')) xattrs.push([k.slice(13), v]);
        else if (k.startsWith('LIBARCHIVE.xattr.')) xattrs.push([libarchiveXattrName(k.slice(17), at), Buffer.from(v.toString('latin1'), 'base64')]);
        else if (v.length === 0) continue; // "key=" unsets a value: keep the header's
        else if (k === 'path') name = v.toString('latin1');
        else if (k === 'linkpath') linkname = v.toString('latin1');
        else if (k === 'size') size = paxInteger(v, k);
        else if (k === 'uid') uid = paxInteger(v, k);
        else if (k === 'gid') gid = paxInteger(v, k);
        else if (k === 'mtime') mtime = paxTime(v, k);
        // Anything else (atime, uname, gname, SCHILY.acl.* text ACLs, comments) does not
        // change the tree containerd unpacks: ignored. GNU.sparse.* is read below.
      }
    }
    if (this.longName !== undefined) name = this.longName;
    if (this.longLink !== undefined) linkname = this.longLink;
    this.pax = undefined;
    this.longName = this.longLink = undefined;

    // Bytes of data after the header, and whether the sink gets them.
    let data = 0;
    if (type === 'file') {
      if (flag !== 'S' && name.endsWith('/')) {
        type = 'dir';
        if (flag !== '\0') { data = size; body = D.Skip; } // Go reads type '0' data; '\0' turned dir has none
      } else {
        data = size;
      }
    } else if (body === D.Skip) {
      data = size; // a dumpdir's listing
    }

    // Later records for the same xattr win.
    const dedup = xattrs.length > 1 ? [...new Map(xattrs)] : xattrs;
    const hdr: TarHeader = { name, type, mode, uid, gid, size: type === 'file' ? size : 0, mtime, linkname, devmajor, devminor, xattrs: dedup, offset: at };

    if (flag === 'S') return this.oldGnuSparse(h, hdr, data, gnu);
    if (pax && type === 'file' && this.paxSparse(pax, hdr, data)) return;
    if (pax && type !== 'file' && (pax.has('GNU.sparse.major') || pax.has('GNU.sparse.map'))) {
      throw new TarFormatError(`entry at offset ${at} has sparse file records but is not a regular file`);
    }

    this.entries++;
    this.open = true;
    this.sink.entry(hdr);
    this.startBody(data, body);
  }

  private endExtended(): void {
    const body = Buffer.concat(this.ext);
    this.ext = [];
    switch (this.extKind) {
      case 'x':
        // Only the last 'x' before an entry counts (Go, GNU and BSD tar agree).
        this.pax = new Map();
        parsePaxRecords(body, this.pax);
        break;
      case 'g':
        parsePaxRecords(body, new Map()); // checked, then ignored (see the top of this file)
        break;
      case 'L':
        this.longName = cstring(body, 0, body.length);
        break;
      case 'K':
        this.longLink = cstring(body, 0, body.length);
        break;
    }
  }

  // --- sparse files ---

  /** An old GNU 'S' entry: segments in the header and in extension blocks after it. */
  private oldGnuSparse(h: Buffer, hdr: TarHeader, data: number, gnu: boolean): void {
    if (!gnu) throw new TarFormatError(`entry at offset ${hdr.offset} is a GNU sparse file ('S') without the GNU header format`);
    hdr.size = oldGnuRealSize(h);
    this.segs = [];
    this.pending = hdr;
    this.left = data;
    if (oldGnuSegments(h, true, this.segs)) this.state = S.SparseExt;
    else this.startSparse();
  }

  private sparseExtBlock(b: Buffer): void {
    if (this.segs.length > MAX_SEGMENTS) throw new TarFormatError(`sparse file at offset ${this.pending!.offset} has more than ${MAX_SEGMENTS} segments`);
    if (!oldGnuSegments(b, false, this.segs)) this.startSparse();
  }

  /** PAX sparse formats (GNU.sparse.* records). Returns false if the entry is not sparse. */
  private paxSparse(pax: Map<string, Buffer>, hdr: TarHeader, data: number): boolean {
    const rec = (k: string) => pax.get(k)?.toString('latin1') ?? '';
    const major = rec('GNU.sparse.major'), minor = rec('GNU.sparse.minor');
    let v1: boolean;
    if (major === '0' && (minor === '0' || minor === '1')) v1 = false;
    else if (major === '1' && minor === '0') v1 = true;
    else if (major !== '' || minor !== '') return false; // a version Go does not know: a plain file, as in Go
    else if (rec('GNU.sparse.map') !== '') v1 = false; // 0.0 and 0.1 have no version records
    else return false;
    const sparseName = rec('GNU.sparse.name');
    if (sparseName) hdr.name = sparseName;
    const real = pax.get('GNU.sparse.size') ?? pax.get('GNU.sparse.realsize');
    if (real && real.length > 0) hdr.size = paxInteger(real, 'GNU.sparse.size');
    this.pending = hdr;
    this.left = data;
    if (v1) {
      if (data < 512) throw new TarFormatError(`sparse file at offset ${hdr.offset} has no room for its map (${data} bytes of data)`);
      this.map1x0 = new SparseMap1x0();
      this.state = S.SparseMap;
    } else {
      this.segs = paxMap(rec('GNU.sparse.map'), rec('GNU.sparse.numblocks'));
      this.startSparse();
    }
    return true;
  }

  /** A block of a PAX 1.0 sparse map: part of the entry's data. */
  private sparseMapBlock(b: Buffer): void {
    this.left -= 512;
    const segs = this.map1x0!.add(b);
    if (segs) {
      this.map1x0 = undefined;
      this.segs = segs;
      this.startSparse();
    } else if (this.left < 512) {
      throw new TarFormatError(`sparse file at offset ${this.pending!.offset}: its map runs past the entry's data`);
    }
  }

  /** The map is known: check it and hand the entry over; its data follows. */
  private startSparse(): void {
    const h = this.pending!;
    this.pending = undefined;
    checkSegments(this.segs, h.size, this.left);
    h.sparse = this.segs;
    this.seg = -1;
    this.segLeft = 0;
    this.entries++;
    this.open = true;
    this.sink.entry(h);
    // A 1.0 map took whole blocks, so the rest of the data needs the same padding as all of it.
    this.startBody(this.left, D.Sparse);
  }

  /** Sparse data: hand each piece over with its offset in the file. */
  private sparseData(part: Buffer): void {
    while (part.length > 0) {
      while (this.segLeft === 0) {
        const s = this.segs[++this.seg]!;
        this.segAt = s.offset;
        this.segLeft = s.length;
      }
      const take = Math.min(this.segLeft, part.length);
      this.sink.data(take === part.length ? part : part.subarray(0, take), this.segAt);
      this.segAt += take;
      this.segLeft -= take;
      part = part.subarray(take);
    }
  }
}

/** Cap on the segments of an old GNU sparse file (21 per 512-byte extension block). */
const MAX_SEGMENTS = 1 << 20;

function libarchiveXattrName(encoded: string, at: number): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new TarFormatError(`entry at offset ${at} has a badly encoded LIBARCHIVE.xattr name`);
  }
}
