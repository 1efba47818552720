// A small tar writer for building test fixtures byte by byte, including the cases
// off-the-shelf writers refuse to make (path traversal, binary xattrs, odd devices).
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  name: string;
  type?: TarEntryType; // default file
  mode?: number; // permission bits incl. setuid/sticky; default 0644 / 0755 for dirs
  uid?: number;
  gid?: number;
  mtime?: number; // seconds
  content?: Buffer | string;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | string>;
  /** Extra PAX records, written verbatim. */
  pax?: Record<string, string>;
  /** Force a PAX header even when not needed. */
  forcePax?: boolean;
}

const TYPEFLAG: Record<TarEntryType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, e: TarEntry, typeflag: string, size: number, linkname: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  const type = e.type ?? 'file';
  const mode = e.mode ?? (type === 'dir' ? 0o755 : 0o644);
  h.write(octal(mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(e.uid ?? 0, 8), 108, 'ascii');
  h.write(octal(e.gid ?? 0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(e.mtime ?? 1700000000, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(typeflag, 156, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  h.write(octal(e.devmajor ?? 0, 8), 329, 'ascii');
  h.write(octal(e.devminor ?? 0, 8), 337, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function pad(buf: Buffer): Buffer[] {
  const rem = buf.length % 512;
  return rem === 0 ? [buf] : [buf, Buffer.alloc(512 - rem)];
}

function paxRecord(key: string, value: Buffer): Buffer {
  // "len key=value\n" where len counts itself.
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len++;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

export function tarEntry(e: TarEntry): Buffer {
  const type = e.type ?? 'file';
  const content = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
  const size = type === 'file' ? content.length : 0;
  const linkname = e.linkname ?? '';
  const records: Buffer[] = [];
  const needsPax = (s: string) => Buffer.byteLength(s) > 99 || /[^\x20-\x7e]/.test(s);
  if (needsPax(e.name)) records.push(paxRecord('path', Buffer.from(e.name)));
  if (needsPax(linkname)) records.push(paxRecord('linkpath', Buffer.from(linkname)));
  for (const [k, v] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v)));
  for (const [k, v] of Object.entries(e.pax ?? {})) records.push(paxRecord(k, Buffer.from(v)));
  const out: Buffer[] = [];
  if (records.length > 0 || e.forcePax) {
    const body = Buffer.concat(records);
    out.push(header('PaxHeaders/' + e.name.slice(0, 80), { name: '', mode: 0o644 }, 'x', body.length, ''), ...pad(body));
  }
  const shortName = Buffer.byteLength(e.name) > 99 ? Buffer.from(e.name).subarray(0, 99).toString('latin1') : e.name;
  const shortLink = Buffer.byteLength(linkname) > 99 ? Buffer.from(linkname).subarray(0, 99).toString('latin1') : linkname;
  out.push(header(shortName, e, TYPEFLAG[type], size, shortLink));
  if (size > 0) out.push(...pad(content));
  return Buffer.concat(out);
}

export function tar(entries: TarEntry[]): Buffer {
  return Buffer.concat([...entries.map(tarEntry), Buffer.alloc(1024)]);
}
