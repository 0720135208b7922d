import { randomUUID } from "node:crypto";
import { maxChannelVersion } from "@langchain/langgraph-checkpoint";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { nextChannelVersion, versionCounter } from "./channel-versions.js";
import { parseBlobField } from "./saver-keys.js";
import { checkpointBlobFields, versionsFromFields } from "./saver-records.js";

const counter = fc.integer({ min: 1, max: 10 ** 12 - 2 });
/** The 57-character versions earlier RedisSaver releases minted. */
const olderVersion = (n: number) => `${String(n).padStart(20, "0")}.${randomUUID()}`;
/** Numeric versions as LangGraph's default getNextVersion mints them (and as this saver goes on from them). */
const numericVersion = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 21 }),
  fc.double({ min: 0, max: 2 ** 21, noNaN: true }),
  fc.integer({ min: 2 ** 21, max: 10 ** 12 - 3 }), // two more fit below the largest counter
);

/**
 * LangGraph's own tests of versions: getNewChannelVersions keeps a channel when `v > previous` (plain
 * `>`), and the null version is 0 for a thread whose versions are numbers, "" for strings.
 */
function isNewer(next: number | string, previous: number | string): boolean {
  return next > previous && next > (typeof previous === "number" ? 0 : "");
}

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
        expect(isNewer(nextChannelVersion(va), va)).toBe(true);
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

  it("carry on a thread written with earlier versions or another saver's counters", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 8 - 1 }), (n) => {
        for (const earlier of [olderVersion(n), `${String(n).padStart(32, "0")}.0123456789`]) {
          const next = nextChannelVersion(earlier);
          expect(versionCounter(next)).toBe(n + 1);
          expect(isNewer(next, earlier)).toBe(true);
          expect(maxChannelVersion(earlier, next)).toBe(next);
        }
      }),
    );
  });

  it("stay numbers on a thread whose versions are numbers: the next is greater as LangGraph compares", () => {
    fc.assert(
      fc.property(numericVersion, (current) => {
        const next = nextChannelVersion(current);
        expect(typeof next).toBe("number");
        expect(isNewer(next, current)).toBe(true);
        expect(maxChannelVersion(current, next)).toBe(next);
        // The next whole counter, plus a fraction strictly between 0 and 1.
        expect(Math.floor(next)).toBe(Math.floor(current) + 1);
        expect(next).not.toBe(Math.floor(next));
        // And so on from there: a thread of minted numbers keeps going up.
        const after = nextChannelVersion(next);
        expect(typeof after).toBe("number");
        expect(isNewer(after, next)).toBe(true);
        expect(Math.floor(after)).toBe(Math.floor(next) + 1);
      }),
    );
  });

  it("differ between two branches forked from one numeric checkpoint, and round-trip exactly", () => {
    // Draws small enough that a collision is a defect, not bad luck: 47+ random bits survive below a
    // counter of 42 (20,000 draws collide with p < 2e-6), 32 at 2^20 (300 draws: p < 1.1e-5).
    for (const [current, draws] of [
      [0, 20_000],
      [2, 20_000],
      [41, 20_000],
      [2 ** 20, 300],
    ] as const) {
      const minted = Array.from({ length: draws }, () => nextChannelVersion(current));
      expect(new Set(minted).size).toBe(draws);
      // Stored in the record's blob fields as text and read back as the same numbers.
      const versions = Object.fromEntries(minted.slice(0, 300).map((v, i) => [`c${i}`, v]));
      const { blobFields, versionsInFields } = checkpointBlobFields("ns", versions);
      expect(versionsInFields?.numeric).toHaveLength(300);
      expect(
        versionsFromFields(blobFields.map(parseBlobField), versionsInFields?.numeric ?? []),
      ).toStrictEqual(versions);
    }
  });

  it("mint a number as the first version a process mints (the random pool still empty)", async () => {
    vi.resetModules();
    const fresh = await import("./channel-versions.js");
    expect(Math.floor(fresh.nextChannelVersion(5))).toBe(6);
  });

  it("refuse to pass the largest counter instead of wrapping the order", () => {
    expect(() => nextChannelVersion(versionAt(10 ** 12 - 1))).toThrow(/exceeds 999999999999/);
    expect(nextChannelVersion(versionAt(10 ** 12 - 2))).toMatch(/^999999999999\./);
    expect(() => nextChannelVersion(10 ** 12 - 1)).toThrow(/exceeds 999999999999/);
    expect(Math.floor(nextChannelVersion(10 ** 12 - 2))).toBe(10 ** 12 - 1);
    expect(() => nextChannelVersion(Number.NaN)).toThrow(/not a finite number/);
  });
});

/** A version this saver mints with counter `n` (n >= 1). */
function versionAt(n: number): string {
  return nextChannelVersion(`${String(n - 1).padStart(12, "0")}.AAAAAAAA`);
}
