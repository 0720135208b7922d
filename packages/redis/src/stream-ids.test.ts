import { InvalidConfigurationError, LedgerUnavailableError, type OperationRecord } from "@durable-tools/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { creationContext, parseRecordText, recordText } from "./record-text.js";
import {
  EPOCH_MS,
  EVENTS_PER_CHANGE,
  entrySeq,
  entryValue,
  eventsOfEntry,
  LAST_MS,
  PER_MS,
  pendingEntryId,
  storeTime,
  streamIdOfSeq,
} from "./stream-ids.js";

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
      fc.property(fc.array(event, { minLength: 1, maxLength: EVENTS_PER_CHANGE }), (events) => {
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
        fc.integer({ min: 1_700_000_000_000, max: 2_800_000_000_000 }) /* until 2058 */,
        fc.nat(999),
        fc.nat(2 * EVENTS_PER_CHANGE - 1),
        (ms, n, i) => {
          const seq = entrySeq(`${ms}-${n}`) + i;
          expect(Number.isSafeInteger(seq)).toBe(true);
          expect(streamIdOfSeq(seq)).toBe(`${ms}-${n}`);
        },
      ),
    );
  });

  it("restores an entry holding creation events and the next change's events in order, seq consecutive (property)", () => {
    const change = fc.array(event, { minLength: 1, maxLength: EVENTS_PER_CHANGE });
    fc.assert(
      fc.property(change, change, (created, next) => {
        const withKey = (events: typeof created) => events.map((e) => ({ ...e, key: "k" }));
        const fields = ["e", entryValue(withKey(created) as never), "f", entryValue(withKey(next) as never)];
        const restored = eventsOfEntry("1700000000123-7", fields, "k");
        expect(restored.map(({ seq: _seq, ...rest }) => rest)).toEqual(
          JSON.parse(JSON.stringify([...withKey(created), ...withKey(next)])),
        );
        const base = entrySeq("1700000000123-7");
        expect(restored.map((e) => e.seq)).toEqual(restored.map((_, i) => base + i));
        // The next possible entry id starts above every seq of this one.
        expect(entrySeq("1700000000123-8")).toBeGreaterThan(base + restored.length - 1);
      }),
    );
  });

  it("leaves out what the record holds and restores it from the record or from field r (property)", () => {
    const record = fc.record(
      {
        tool: fc.constantFrom("t", "u"),
        tenant: fc.constantFrom("acme", "globex"),
        correlationId: fc.constantFrom("c1", "c2"),
        owner: fc.constantFrom("host:1:abcd/1", "w#1"),
        createdAt: fc.constantFrom(1, 2),
        args: fc.jsonValue(),
      },
      { requiredKeys: ["tool", "createdAt"] },
    );
    const creation = record.chain((fields) => {
      const stored = recordOf(fields);
      const context = creationContext(stored);
      // Events like the executor's: some carry the record's own arguments (the same value) as data.
      const events = fc.array(
        fc
          .tuple(event, fc.boolean())
          .map(([e, own]) =>
            own && context.args !== undefined ? { ...e, data: { args: context.args } } : e,
          ),
        { minLength: 1, maxLength: EVENTS_PER_CHANGE },
      );
      return fc.tuple(fc.constant(stored), fc.constant(context), events);
    });
    fc.assert(
      fc.property(creation, ([stored, context, events]) => {
        const given = events.map((e) => ({ ...e, key: "k" }));
        const value = entryValue(given as never, context);
        const expected = JSON.parse(JSON.stringify(given));
        // As the store reads it: the context of the record parsed back from its text.
        const readBack = creationContext(parseRecordText(recordText(stored, value), "k").record);
        const fromRecord = eventsOfEntry("1700000000123-7", ["e", value], "k", readBack);
        expect(fromRecord.map(({ seq: _seq, ...rest }) => rest)).toEqual(expected);
        const fromStream = eventsOfEntry("1700000000123-7", ["e", value, "r", creationFields(stored)], "k");
        expect(fromStream.map(({ seq: _seq, ...rest }) => rest)).toEqual(expected);
      }),
    );
  });

  it("stores the executor's creation events without what the record holds", () => {
    const stored = recordOf({ tool: "t", correlationId: "c1", owner: "w/1", createdAt: 5, args: { n: 1 } });
    const context = creationContext(stored);
    const common = { key: "k", tool: "t", correlationId: "c1", owner: "w/1", at: 5 };
    const value = JSON.parse(
      entryValue(
        [
          {
            ...common,
            id: "w/1#1",
            type: "claimed",
            attempt: 1,
            to: "PENDING",
            data: { args: stored.args ?? null },
          },
          { ...common, id: "w/1#2", type: "transition", attempt: 1, from: "PENDING", to: "VALIDATED" },
        ],
        context,
      ),
    );
    expect(value).toEqual({
      c: { ids: 1, r: 0b11101 },
      e: [
        { id: "#1", type: "claimed", attempt: 1, to: "PENDING", a: 1 },
        { id: "#2", type: "transition", attempt: 1, from: "PENDING", to: "VALIDATED" },
      ],
    });
    // A copy of the arguments is not the record's own: it is stored.
    const copied = JSON.parse(
      entryValue(
        [{ ...common, id: "w/1#1", type: "claimed", attempt: 1, data: { args: { n: 1 } } }],
        context,
      ),
    );
    expect(copied.e[0].data).toEqual({ args: { n: 1 } });
  });

  it("refuses to read an entry that needs its record's fields without them", () => {
    const stored = recordOf({ tool: "t", owner: "w/1", createdAt: 5 });
    const value = entryValue(
      [{ key: "k", tool: "t", owner: "w/1", at: 5, id: "w/1#1", type: "claimed", attempt: 1 }],
      creationContext(stored),
    );
    expect(() => eventsOfEntry("1700000000123-7", ["e", value], "k")).toThrow(LedgerUnavailableError);
    // An entry that took its arguments from the record, read with creation fields that have none.
    const withArgs = recordOf({ tool: "t", owner: "w/1", createdAt: 5, args: { n: 1 } });
    const claimed = entryValue(
      [
        {
          key: "k",
          tool: "t",
          owner: "w/1",
          at: 5,
          id: "w/1#1",
          type: "claimed",
          attempt: 1,
          data: { args: withArgs.args ?? null },
        },
      ],
      creationContext(withArgs),
    );
    expect(() => eventsOfEntry("1700000000123-7", ["e", claimed], "k", creationContext(stored))).toThrow(
      "refers to its record's arguments",
    );
  });

  it("puts a pending creation entry at <created>-0, or just after a stream entry that is not older", () => {
    expect(pendingEntryId(1_800_000_000_000, undefined)).toBe("1800000000000-0");
    expect(pendingEntryId(1_800_000_000_000, "1799999999999-5")).toBe("1800000000000-0");
    expect(pendingEntryId(1_800_000_000_000, "1800000000000-0")).toBe("1800000000000-1");
    expect(pendingEntryId(1_800_000_000_000, "1800000000007-3")).toBe("1800000000007-4");
    // A fractional clock: its whole milliseconds. The 1000th entry of a millisecond: the next one's first.
    expect(pendingEntryId(1_800_000_000_000.75, undefined)).toBe("1800000000000-0");
    expect(pendingEntryId(1_800_000_000_000.75, "1799999999999-5")).toBe("1800000000000-0");
    expect(pendingEntryId(1_800_000_000_000.75, "1800000000000-998")).toBe("1800000000000-999");
    expect(pendingEntryId(1_800_000_000_000, "1800000000000-999")).toBe("1800000000001-0");
    expect(pendingEntryId(1_800_000_000_000, "1800000000007-999")).toBe("1800000000008-0");
  });

  it("gives a pending entry an id whose every seq maps back to it and comes after the last entry's (property)", () => {
    const ms = fc.integer({ min: EPOCH_MS, max: LAST_MS - 1 });
    const last = fc.option(fc.tuple(ms, fc.nat(PER_MS - 1)), { nil: undefined });
    const createdAt = fc.tuple(ms, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }));
    fc.assert(
      fc.property(createdAt, last, ([whole, fraction], lastEntry) => {
        const lastId = lastEntry === undefined ? undefined : `${lastEntry[0]}-${lastEntry[1]}`;
        const id = pendingEntryId(whole + fraction, lastId);
        const [idMs, n] = id.split("-").map(Number) as [number, number];
        expect(n).toBeLessThan(PER_MS);
        expect(idMs).toBeGreaterThanOrEqual(whole);
        for (let i = 0; i < 2 * EVENTS_PER_CHANGE; i++) {
          expect(Number.isSafeInteger(entrySeq(id) + i)).toBe(true);
          expect(streamIdOfSeq(entrySeq(id) + i)).toBe(id);
        }
        if (lastId !== undefined) {
          expect(entrySeq(id)).toBeGreaterThan(entrySeq(lastId) + 2 * EVENTS_PER_CHANGE - 1);
        }
      }),
    );
  });

  it("maps ids of consecutive entries, across the move to the next millisecond, to increasing seqs (property)", () => {
    // The ids the scripts write within and past one millisecond: <ms>-0 .. <ms>-999, then <ms + 1>-0 ...
    fc.assert(
      fc.property(
        fc.integer({ min: EPOCH_MS, max: LAST_MS - 1 }),
        fc.integer({ min: 1, max: 2200 }),
        (ms, count) => {
          let id: string | undefined;
          let seq = -1;
          for (let i = 0; i < count; i++) {
            id = pendingEntryId(ms, id);
            expect(entrySeq(id)).toBeGreaterThan(seq);
            expect(streamIdOfSeq(entrySeq(id))).toBe(id);
            seq = entrySeq(id) + 2 * EVENTS_PER_CHANGE - 1;
          }
          const expected = count - 1;
          expect(id).toBe(`${ms + Math.floor(expected / PER_MS)}-${expected % PER_MS}`);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("takes the clocks it can make ids from, fractions included, and refuses others with what to do", () => {
    for (const value of [EPOCH_MS, EPOCH_MS + 0.5, 1_796_590_784_220.123, LAST_MS]) {
      expect(storeTime("claim's now", value)).toBe(value);
    }
    for (const value of [0, 1, EPOCH_MS - 0.5, -EPOCH_MS, LAST_MS + 0.5, Number.NaN, Infinity, -Infinity]) {
      expect(() => storeTime("claim's now", value)).toThrow(InvalidConfigurationError);
      expect(() => storeTime("claim's now", value)).toThrow(
        `The Redis ledger got claim's now = ${String(value)}: it must be a time in milliseconds since 1970 from 1700000000000 (2023-11-14T22:13:20.000Z) to 2825899906841 (2059-07-20T04:11:46.841Z), because the events' stream ids and seq are made from it. Use a wall clock (Date.now, or performance.timeOrigin + performance.now()); a test clock must start at or after 1700000000000.`,
      );
    }
    expect(() => storeTime("claim's now", "1800000000000" as unknown as number)).toThrow(
      InvalidConfigurationError,
    );
  });
});

interface RecordFields {
  tool: string;
  tenant?: string;
  correlationId?: string;
  owner?: string;
  createdAt: number;
  args?: unknown;
}

function recordOf(fields: RecordFields): OperationRecord {
  const record: OperationRecord = {
    key: "k",
    tool: fields.tool,
    fingerprint: "sha256:x",
    state: "SUBMITTED",
    attempt: 1,
    owner: fields.owner ?? null,
    fencingToken: 1,
    leaseExpiresAt: null,
    createdAt: fields.createdAt,
    updatedAt: fields.createdAt,
    expiresAt: null,
  };
  if (fields.tenant !== undefined) record.tenant = fields.tenant;
  if (fields.correlationId !== undefined) record.correlationId = fields.correlationId;
  if (fields.args !== undefined) record.args = fields.args as never;
  return record;
}

/** What the scripts write in field `r` when whole: the record's owner, created and meta lines (scripts.ts). */
function creationFields(record: OperationRecord): string {
  const lines = recordText(record, "").split("\n");
  return [lines[2], lines[8], lines[9]].join("\n");
}
