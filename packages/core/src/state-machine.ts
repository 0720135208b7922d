import { IllegalTransitionError } from "./errors.js";
import { OperationState } from "./record.js";

const { PENDING, VALIDATED, SUBMITTED, CONFIRMED, FAILED } = OperationState;

/**
 * The legal transitions, and nothing else. `SUBMITTED -> SUBMITTED` is a re-submission (after a
 * reconcile said "not applied", or to a downstream that deduplicates on the key): it bumps `attempt`.
 */
export const TRANSITIONS: Readonly<Record<OperationState, readonly OperationState[]>> = {
  [PENDING]: [VALIDATED, FAILED],
  [VALIDATED]: [SUBMITTED, FAILED],
  [SUBMITTED]: [SUBMITTED, CONFIRMED, FAILED],
  [CONFIRMED]: [],
  [FAILED]: [],
};

export function canTransition(from: OperationState, to: OperationState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(from: OperationState, to: OperationState): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
}

/**
 * Checks a chain of transitions applied in one store write (e.g. `PENDING -> VALIDATED -> SUBMITTED`
 * for a tool without a validate hook) and returns the state it ends in.
 */
export function assertPath(from: OperationState, path: readonly OperationState[]): OperationState {
  let current = from;
  for (const next of path) {
    assertTransition(current, next);
    current = next;
  }
  return current;
}
