// Byte-level tar pieces for the layer tests: headers with exactly the given fields (forms
// that test/helpers/tar.ts does not make: odd type flags, GNU/v7 magic, raw numeric
// fields, sizes on header-only types), PAX headers with records in a given order.
const oct = (n: number, w: number) => n.toString(8).padStart(w - 1, '0') + '\0';

export interface RawFields {
  name: string | Buffer;
  type?: string;
  size?: number | string;
  mode?: number | string;
  uid?: number | string;
  gid?: number | string;
  mtime?: number;
  linkname?: string;
  magic?: 'ustar' | 'gnu' | 'v7';
  prefix?: string | Buffer;
  devmajor?: number;
  devminor?: number;
}

/** A 512-byte header. String numeric fields are written as given (for odd spacing). */
export function rawHeader(f: RawFields): Buffer {
  const h = Buffer.alloc(512);
  (Buffer.isBuffer(f.name) ? f.name : Buffer.from(f.name, 'latin1')).copy(h, 0, 0, 100);
  const put = (v: number | string | undefined, off: number, w: number, dflt: number) => {
    if (typeof v === 'string') h.write(v, off, w, 'latin1');
    else h.write(oct(v ?? dflt, w), off, 'latin1');
  };
  put(f.mode, 100, 8, 0o644);
  put(f.uid, 108, 8, 0);
  put(f.gid, 116, 8, 0);
  put(f.size, 124, 12, 0);
  put(f.mtime, 136, 12, 1700000000);
  h.write(f.type ?? '0', 156, 'latin1');
  if (f.linkname) h.write(f.linkname, 157, 100, 'latin1');
  const magic = f.magic ?? 'ustar';
  if (magic === 'ustar') h.write('ustar\x0000', 257, 'latin1');
  if (magic === 'gnu') h.write('ustar  \0', 257, 'latin1');
  if (f.prefix) (Buffer.isBuffer(f.prefix) ? f.prefix : Buffer.from(f.prefix, 'latin1')).copy(h, 345, 0, 155);
  if (f.devmajor !== undefined) h.write(oct(f.devmajor, 8), 329, 'latin1');
  if (f.devminor !== undefined) h.write(oct(f.devminor, 8), 337, 'latin1');
  return resum(h);
}

/** Recompute the header checksum (after editing a header). */
export function resum(h: Buffer): Buffer {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

/** Data padded to whole blocks. */
export function body(content: Buffer | string): Buffer {
  const b = Buffer.from(content);
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

/** A PAX header ('x', or 'g' for global) with these records, in this order. */
export function paxHeader(records: [string, string | Buffer][], type: 'x' | 'g' = 'x'): Buffer {
  const parts = records.map(([k, v]) => {
    const rest = Buffer.concat([Buffer.from(` ${k}=`), Buffer.from(v), Buffer.from('\n')]);
    let len = rest.length + 1;
    while (String(len).length + rest.length !== len) len++;
    return Buffer.concat([Buffer.from(String(len)), rest]);
  });
  const text = Buffer.concat(parts);
  // git archive's name for a global header; containerd creates the parent directory of a
  // global header's name before skipping it, so one without a slash keeps trees comparable.
  return Buffer.concat([rawHeader({ name: type === 'g' ? 'pax_global_header' : 'PaxHeaders/x', type, size: text.length }), body(text)]);
}

export const END = Buffer.alloc(1024);
