import { randomUUID } from "node:crypto";
import { maxChannelVersion } from "@langchain/langgraph-checkpoint";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nextChannelVersion, versionCounter } from "./channel-versions.js";

const counter = fc.integer({ min: 1, max: 10 ** 12 - 2 });
/** The 57-character versions earlier RedisSaver releases minted. */
const olderVersion = (n: number) => `${String(n).padStart(20, "0")}.${randomUUID()}`;

describe("RedisSaver channel versions", () => {
  it("are 21 characters: a 12-digit counter one above the current one, and 8 base64url characters", () => {
    fc.assert(
      fc.property(counter, (n) => {
        const next = nextChannelVersion(versionAt(n));
        expect(next).toMatch(/^\d{12}\.[A-Za-z0-9_-]{8}$/);
        expect(versionCounter(next)).toBe(n + 1);
      }),
    );
    expect(nextChannelVersion(undefined)).toMatch(/^000000000001\./);
  });

  it("sort as their counters do, the way LangGraph compares string versions", () => {
    fc.assert(
      fc.property(counter, counter, (a, b) => {
        const [va, vb] = [versionAt(a), versionAt(b)];
        expect(nextChannelVersion(va) > va).toBe(true);
        if (a === b) return; // two branches' versions of one counter: never compared by LangGraph
        expect(va < vb).toBe(a < b);
        expect(maxChannelVersion(va, vb)).toBe(a > b ? va : vb);
      }),
    );
  });

  it("differ between two branches that mint the same counter for the same channel", () => {
    const minted = new Set(Array.from({ length: 20_000 }, () => nextChannelVersion("000000000007.abcdefgh")));
    expect(minted.size).toBe(20_000);
  });

  it("carry on a thread written with earlier versions, numbers or another saver's counters", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 8 - 1 }), (n) => {
        for (const earlier of [olderVersion(n), n, `${String(n).padStart(32, "0")}.0123456789`]) {
          const next = nextChannelVersion(earlier);
          expect(versionCounter(next)).toBe(n + 1);
          if (typeof earlier === "string") {
            expect(next > earlier).toBe(true);
            expect(maxChannelVersion(earlier, next)).toBe(next);
          }
        }
      }),
    );
  });

  it("refuse to pass the largest counter instead of wrapping the order", () => {
    expect(() => nextChannelVersion(10 ** 12 - 1)).toThrow(/exceeds 999999999999/);
    expect(nextChannelVersion(10 ** 12 - 2)).toMatch(/^999999999999\./);
  });
});

/** A version this saver mints with counter `n` (n >= 1). */
function versionAt(n: number): string {
  return nextChannelVersion(n - 1);
}
