// What every layer decompressor is: the streaming contract and its one error class.

export type Compression = 'gzip' | 'zstd' | 'none';

/** Output chunk size: fewer, larger chunks mean less per-chunk overhead downstream. */
export const OUTPUT_CHUNK = 256 * 1024;

/** The compressed stream itself is bad (corrupt, truncated); errors from the output callback are not wrapped. */
export class DecodeError extends Error {
  constructor(readonly kind: Compression, cause: unknown) {
    super((cause as Error)?.message ?? String(cause), { cause });
  }
}

/** A streaming decoder. write() resolves when the decoder can take more; end() when all output was pushed. */
export interface Decoder {
  write(chunk: Buffer): Promise<void> | void;
  end(): Promise<void> | void;
  destroy(): void;
  /** The first error (from decoding or from `out`), once there is one. */
  readonly failure: unknown;
}
