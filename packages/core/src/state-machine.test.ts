import { describe, expect, it } from "vitest";
import { isIllegalTransitionError } from "./errors.js";
import { OperationState } from "./record.js";
import { assertPath, assertTransition, canTransition, TRANSITIONS } from "./state-machine.js";

const states = Object.values(OperationState);
const legal = new Set([
  "PENDING>VALIDATED",
  "PENDING>FAILED",
  "VALIDATED>SUBMITTED",
  "VALIDATED>FAILED",
  "SUBMITTED>SUBMITTED",
  "SUBMITTED>CONFIRMED",
  "SUBMITTED>FAILED",
]);

describe("state machine", () => {
  it.each(states.flatMap((from) => states.map((to) => [from, to] as const)))("%s -> %s", (from, to) => {
    const expected = legal.has(`${from}>${to}`);
    expect(canTransition(from, to)).toBe(expected);
    if (expected) expect(() => assertTransition(from, to)).not.toThrow();
    else {
      let thrown: unknown;
      try {
        assertTransition(from, to);
      } catch (error) {
        thrown = error;
      }
      expect(isIllegalTransitionError(thrown)).toBe(true);
      expect((thrown as Error).message).toBe(`Illegal operation state transition ${from} -> ${to}.`);
    }
  });

  it("terminal states have no way out", () => {
    expect(TRANSITIONS.CONFIRMED).toEqual([]);
    expect(TRANSITIONS.FAILED).toEqual([]);
  });

  it("checks a multi-step path applied in one write", () => {
    expect(assertPath("PENDING", ["VALIDATED", "SUBMITTED"])).toBe("SUBMITTED");
    expect(() => assertPath("PENDING", ["SUBMITTED"])).toThrow("PENDING -> SUBMITTED");
    expect(() => assertPath("CONFIRMED", ["CONFIRMED"])).toThrow("CONFIRMED -> CONFIRMED");
  });
});
