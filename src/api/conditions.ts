// Condition helpers following the Kubernetes conventions: lastTransitionTime changes only when
// status changes; Ready is always first; the rest keep a stable order.
import type { Condition, ConditionStatus } from './types.js';

export const READY = 'Ready';

export interface ConditionInput { type: string; status: ConditionStatus; reason: string; message: string }

const CAMEL = /^[A-Z][A-Za-z0-9]*$/;

/**
 * Returns a new list with `c` set. `now` and `generation` stamp it. The previous
 * lastTransitionTime is kept when the status did not change.
 */
export function setCondition(list: Condition[] | undefined, c: ConditionInput, generation?: number, now = new Date()): Condition[] {
  if (!CAMEL.test(c.reason)) throw new Error(`condition ${c.type}: reason must be CamelCase, got "${c.reason}"`);
  const prev = (list ?? []).find((x) => x.type === c.type);
  const next: Condition = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : now.toISOString(),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  const out = (list ?? []).map((x) => (x.type === c.type ? next : x));
  if (!prev) out.push(next);
  return sortConditions(out);
}

export function removeCondition(list: Condition[] | undefined, type: string): Condition[] {
  return (list ?? []).filter((c) => c.type !== type);
}

/** Ready first, then the order they were first set. */
export function sortConditions(list: Condition[]): Condition[] {
  const ready = list.filter((c) => c.type === READY);
  return [...ready, ...list.filter((c) => c.type !== READY)];
}

export function getCondition(list: Condition[] | undefined, type: string): Condition | undefined {
  return (list ?? []).find((c) => c.type === type);
}

export function isTrue(list: Condition[] | undefined, type: string): boolean {
  return getCondition(list, type)?.status === 'True';
}

/** Same conditions apart from timestamps: lets writers skip no-op status updates. */
export function sameConditions(a: Condition[] | undefined, b: Condition[] | undefined): boolean {
  const strip = (l: Condition[] | undefined) => (l ?? []).map(({ lastTransitionTime: _t, ...r }) => r);
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}
