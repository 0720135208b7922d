import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EVENTS_PER_ENTRY, entrySeq, entryValue, eventsOfEntry, streamIdOfSeq } from "./stream-ids.js";

const owner = fc.constantFrom("host:1:abcd/1", "host:1:abcd/2", "w#1");
const event = fc.record(
  {
    id: fc.oneof(
      fc.string(),
      owner.chain((o) => fc.nat(99).map((n) => `${o}#${n}`)),
    ),
    type: fc.constantFrom("claimed", "transition", "replayed"),
    tool: fc.constantFrom("t", "u"),
    tenant: fc.constantFrom("acme", "globex"),
    correlationId: fc.constantFrom("c1", "c2"),
    attempt: fc.nat(5),
    at: fc.constantFrom(1, 2),
    owner,
    from: fc.constantFrom("PENDING", "VALIDATED"),
    to: fc.constantFrom("VALIDATED", "SUBMITTED"),
    data: fc.dictionary(fc.string(), fc.jsonValue()),
  },
  { requiredKeys: ["id", "type", "tool", "attempt", "at"] },
);

describe("stream entries", () => {
  it("restore every event exactly as given, whatever fields they share (property)", () => {
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: EVENTS_PER_ENTRY }), (events) => {
        const given = events.map((e) => ({ ...e, key: "k" }));
        const restored = eventsOfEntry("1700000000123-7", ["e", entryValue(given as never)], "k");
        // JSON is the storage format: compare against the JSON round trip of what was given (-0 becomes 0).
        expect(restored.map(({ seq: _seq, ...rest }) => rest)).toEqual(JSON.parse(JSON.stringify(given)));
        expect(restored.map((e) => e.seq)).toEqual(given.map((_, i) => entrySeq("1700000000123-7") + i));
      }),
    );
  });

  it("shortens owner-prefixed ids and factors shared fields", () => {
    const value = JSON.parse(
      entryValue([
        { id: "w/1#1", type: "claimed", key: "k", tool: "t", attempt: 0, at: 5, owner: "w/1" },
        { id: "w/1#2", type: "transition", key: "k", tool: "t", attempt: 1, at: 5, owner: "w/1" },
      ]),
    );
    expect(value).toEqual({
      c: { tool: "t", owner: "w/1", at: 5, ids: 1 },
      e: [
        { id: "#1", type: "claimed", attempt: 0 },
        { id: "#2", type: "transition", attempt: 1 },
      ],
    });
  });

  it("maps a seq back to the entry that holds it", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_700_000_000_000, max: 3_900_000_000_000 }) /* until 2093 */,
        fc.nat(999),
        fc.nat(3),
        (ms, n, i) => {
          const seq = entrySeq(`${ms}-${n}`) + i;
          expect(Number.isSafeInteger(seq)).toBe(true);
          expect(streamIdOfSeq(seq)).toBe(`${ms}-${n}`);
        },
      ),
    );
  });
});
