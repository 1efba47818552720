// A byte budget shared by layers unpacked side by side (an inclusive disk limit caps the
// whole image, not each layer). Backed by a SharedArrayBuffer so layers unpacking in
// worker threads draw from the same count, atomically.

export interface UnpackBudget {
  /** The whole limit, for messages. */
  readonly limit: number;
  /** Take n bytes; false once the budget is overdrawn (by this call or an earlier one). */
  take(n: number): boolean;
  /** Bytes left (negative when overdrawn). */
  remaining(): number;
  /** What a worker thread needs to draw from the same budget. */
  readonly shared: SharedBudget;
}

export interface SharedBudget { buffer: SharedArrayBuffer; limit: number }

export function createBudget(remaining: number, limit: number): UnpackBudget {
  const buffer = new SharedArrayBuffer(8);
  new BigInt64Array(buffer)[0] = BigInt(Math.floor(remaining));
  return attachBudget({ buffer, limit });
}

/** The same budget, seen from another thread. */
export function attachBudget(shared: SharedBudget): UnpackBudget {
  const cell = new BigInt64Array(shared.buffer);
  return {
    limit: shared.limit,
    shared,
    take: (n) => Atomics.sub(cell, 0, BigInt(n)) - BigInt(n) >= 0n,
    remaining: () => Number(Atomics.load(cell, 0)),
  };
}
