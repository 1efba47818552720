// GNU sparse files in tar: where a file's data segments sit, in the four forms GNU tar
// writes (`tar --sparse`), read as Go's archive/tar reads them (what containerd uses):
//
//   old GNU ('S' entries): up to 4 (offset, length) pairs of octal fields in the header,
//     more in 512-byte extension blocks after it; real size in the header at byte 483.
//   PAX 0.0: repeated GNU.sparse.offset / GNU.sparse.numbytes records (collected into
//     GNU.sparse.map by parsePaxRecords), GNU.sparse.size, GNU.sparse.numblocks.
//   PAX 0.1: GNU.sparse.map "offset,length,...", GNU.sparse.numblocks, GNU.sparse.name.
//   PAX 1.0: GNU.sparse.major=1, minor=0, name, realsize; the map is text at the start of
//     the entry's data ("count\n" then "offset\nlength\n" pairs), padded to 512 bytes.
//
// The data section holds the segments back to back; everything else is a hole.
import { TarFormatError, numeric, decimal } from './tar-fields.js';

export interface SparseSegment {
  offset: number;
  length: number;
}

/** Cap on the text of a sparse map (a few bytes per segment): bounds memory on hostile input. */
export const MAX_SPARSE_MAP = 8 << 20;

/**
 * The segments listed in an old GNU header (`block` is the header, `first` true) or in an
 * extension block. As GNU and BSD tar, a slot whose offset starts with NUL ends the list of
 * that block. Returns whether another extension block follows.
 */
export function oldGnuSegments(block: Buffer, first: boolean, into: SparseSegment[]): boolean {
  const base = first ? 386 : 0;
  const slots = first ? 4 : 21;
  for (let i = 0; i < slots; i++) {
    const at = base + i * 24;
    if (block[at] === 0) break;
    into.push({ offset: numeric(block, at, 12, 'sparse offset'), length: numeric(block, at + 12, 12, 'sparse length') });
  }
  return block[first ? 482 : 504] !== 0;
}

/** The real size of an old GNU sparse file, from its header. */
export function oldGnuRealSize(header: Buffer): number {
  return numeric(header, 483, 12, 'sparse real size');
}

/** The map of PAX sparse formats 0.0 and 0.1: GNU.sparse.map with GNU.sparse.numblocks pairs. */
export function paxMap(map: string, numblocks: string): SparseSegment[] {
  const n = decimal(numblocks);
  const fields = map === '' ? [] : map.split(',');
  if (n === undefined || fields.length !== 2 * n) {
    throw new TarFormatError(`PAX sparse map has ${fields.length} numbers for ${JSON.stringify(numblocks)} segments`);
  }
  return pairs(fields);
}

/**
 * Collects the text map of PAX sparse format 1.0 from whole 512-byte blocks of the entry's
 * data. add() returns the segments once it has them all, else undefined (send the next block).
 */
export class SparseMap1x0 {
  private text = '';
  private lines = 0;
  private want = -1;
  /** Bytes of data the map took (whole blocks). */
  bytes = 0;

  add(block: Buffer): SparseSegment[] | undefined {
    this.bytes += block.length;
    if (this.bytes > MAX_SPARSE_MAP) throw new TarFormatError(`PAX sparse map is larger than ${MAX_SPARSE_MAP} bytes`);
    const s = block.toString('latin1');
    this.text += s;
    for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) this.lines++;
    if (this.want < 0) {
      if (this.lines < 1) return undefined;
      const n = decimal(this.text.slice(0, this.text.indexOf('\n')));
      if (n === undefined) throw new TarFormatError('PAX sparse map (format 1.0) does not start with a segment count');
      this.want = 1 + 2 * n;
    }
    if (this.lines < this.want) return undefined;
    const fields = this.text.split('\n', this.want).slice(1);
    return pairs(fields);
  }
}

function pairs(fields: string[]): SparseSegment[] {
  const out: SparseSegment[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const offset = decimal(fields[i]!), length = decimal(fields[i + 1]!);
    if (offset === undefined || length === undefined) {
      throw new TarFormatError(`sparse map entry ${JSON.stringify(fields[i]!.slice(0, 30))},${JSON.stringify(fields[i + 1]!.slice(0, 30))} is not two numbers`);
    }
    out.push({ offset, length });
  }
  return out;
}

/**
 * Check a map against the file's real size and the bytes of data it has (as Go and BSD tar:
 * segments in order, not overlapping, inside the file; the data is exactly the segments).
 */
export function checkSegments(segs: SparseSegment[], realSize: number, dataBytes: number): void {
  let end = 0, sum = 0;
  for (const s of segs) {
    if (s.offset < end) throw new TarFormatError(`sparse map segments overlap or are out of order at offset ${s.offset}`);
    end = s.offset + s.length;
    if (end > realSize) throw new TarFormatError(`sparse map segment at offset ${s.offset} ends past the file's size ${realSize}`);
    sum += s.length;
  }
  if (sum !== dataBytes) {
    throw new TarFormatError(`sparse map lists ${sum} bytes of data but the entry has ${dataBytes}`);
  }
}
