// Every error groot raises on purpose is a GrootError with a stable `code`.
// Callers branch on `code`, never on message text; messages are for people.

export class GrootError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A source string, flag or object field that cannot be used as given. */
export class InvalidArgumentError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_INVALID_ARGUMENT', message, options);
  }
}

/** An image source that does not exist or cannot be read (path, tag, repository). */
export class ImageNotFoundError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_IMAGE_NOT_FOUND', message, options);
  }
}

/** A manifest, index, config or layout that is not what the spec says it must be. */
export class InvalidImageError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_INVALID_IMAGE', message, options);
  }
}

/** Bytes that do not match their digest, diffID or declared size. */
export class DigestMismatchError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_DIGEST_MISMATCH', message, options);
  }
}

/** A layer entry that would write outside its layer, or is otherwise unsafe. */
export class UnsafeLayerError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_UNSAFE_LAYER', message, options);
  }
}

/** A tar stream that cannot be parsed. */
export class InvalidLayerError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_INVALID_LAYER', message, options);
  }
}

export class RootfsNotFoundError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_ROOTFS_NOT_FOUND', message, options);
  }
}

export class RootfsExistsError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_ROOTFS_EXISTS', message, options);
  }
}

export class StoreError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_STORE', message, options);
  }
}

/**
 * The store's filesystem ran out of room: no space left (ENOSPC) or a disk quota on it used
 * up (EDQUOT). Nothing is wrong with the image; freeing space (delete, clean) fixes it.
 */
export class StoreFullError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_STORE_FULL', message, options);
  }
}

/** 'ENOSPC' or 'EDQUOT' when `e`, or an error it wraps, is a filesystem out of room. */
export function noSpaceCode(e: unknown): 'ENOSPC' | 'EDQUOT' | undefined {
  // Duck-typed: errors from Node's fs may come from another realm (jest's vm), not our Error.
  let x = e as { code?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; typeof x === 'object' && x !== null && depth < 8; depth++) {
    const code = x.code;
    if (code === 'ENOSPC' || code === 'GROOT_SYS_ENOSPC') return 'ENOSPC';
    if (code === 'EDQUOT' || code === 'GROOT_SYS_EDQUOT') return 'EDQUOT';
    x = x.cause as typeof x;
  }
  return undefined;
}

/** What ran out, for people (rather than the errno text). */
export function noSpaceWords(code: 'ENOSPC' | 'EDQUOT'): string {
  return code === 'EDQUOT' ? "disk quota exceeded on the store's filesystem" : "no space left on the store's filesystem";
}

/** "`what` failed: no space left ..." when `e` is a full filesystem, else undefined. */
export function storeFullError(what: string, e: unknown): StoreFullError | undefined {
  const code = noSpaceCode(e);
  return code ? new StoreFullError(`${what} failed: ${noSpaceWords(code)}`, { cause: e }) : undefined;
}

export class QuotaError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_QUOTA', message, options);
  }
}

/** Registry answered with an error, or could not be reached. */
export class RegistryError extends GrootError {
  readonly status?: number;
  constructor(message: string, options?: { cause?: unknown; status?: number; code?: string }) {
    super(options?.code ?? 'GROOT_REGISTRY', message, options);
    this.status = options?.status;
  }
}

export class AuthError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_AUTH', message, options);
  }
}

/** A failing libc call; `errno` is the raw errno, `syscall` the call name. */
export class SyscallError extends GrootError {
  readonly errno: number;
  readonly syscall: string;
  constructor(syscall: string, errno: number, detail: string, message: string) {
    super(`GROOT_SYS_${errnoName(errno)}`, `${syscall}(${detail}): ${message}`);
    this.errno = errno;
    this.syscall = syscall;
  }
}

export class AbortedError extends GrootError {
  constructor(message = 'operation aborted', options?: { cause?: unknown }) {
    super('GROOT_ABORTED', message, options);
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY',
  17: 'EEXIST', 18: 'EXDEV', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 28: 'ENOSPC', 30: 'EROFS',
  38: 'ENOSYS', 39: 'ENOTEMPTY', 40: 'ELOOP', 61: 'ENODATA', 95: 'EOPNOTSUPP', 122: 'EDQUOT', 3: 'ESRCH',
  19: 'ENODEV', 25: 'ENOTTY', 36: 'ENAMETOOLONG',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

export function isGrootError(e: unknown, code?: string): e is GrootError {
  return e instanceof GrootError && (code === undefined || e.code === code);
}

/** The message to show a person for any thrown value. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** A size limit was passed (e.g. a layer unpacks to more bytes than allowed). */
export class QuotaExceededError extends GrootError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GROOT_QUOTA_EXCEEDED', message, options);
  }
}

/** A GrootError as plain data, to cross a worker-thread boundary (see reviveError). */
export interface ErrorData { name: string; code?: string; message: string; stack?: string; errno?: number; syscall?: string; status?: number }

export function errorData(e: unknown): ErrorData {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const d: ErrorData = { name: e.name, message: e.message };
  if (e.stack !== undefined) d.stack = e.stack;
  const x = e as Error & { code?: unknown; errno?: unknown; syscall?: unknown; status?: unknown };
  if (typeof x.code === 'string') d.code = x.code;
  if (typeof x.errno === 'number') d.errno = x.errno;
  if (typeof x.syscall === 'string') d.syscall = x.syscall;
  if (typeof x.status === 'number') d.status = x.status;
  return d;
}

const REVIVABLE: Record<string, new (message: string) => GrootError> = {
  InvalidArgumentError, ImageNotFoundError, InvalidImageError, DigestMismatchError, UnsafeLayerError,
  InvalidLayerError, RootfsNotFoundError, RootfsExistsError, StoreError, QuotaError, RegistryError,
  AuthError, AbortedError, QuotaExceededError, StoreFullError,
};

/** The error errorData() described, as the same class (so `instanceof` and `code` hold). */
export function reviveError(d: ErrorData): Error {
  let e: Error;
  if (d.name === 'SyscallError' && d.errno !== undefined) {
    e = Object.assign(new SyscallError(d.syscall ?? '?', d.errno, '', ''), { message: d.message });
  } else if (REVIVABLE[d.name]) {
    e = new REVIVABLE[d.name]!(d.message);
    if (d.code) (e as unknown as { code: string }).code = d.code;
    if (d.status !== undefined) (e as unknown as { status?: number }).status = d.status;
  } else if (d.code?.startsWith('GROOT_')) {
    e = new GrootError(d.code, d.message);
  } else {
    e = Object.assign(new Error(d.message), d.code ? { code: d.code } : {}, d.errno !== undefined ? { errno: d.errno } : {});
    e.name = d.name;
  }
  if (d.stack) e.stack = d.stack;
  return e;
}
