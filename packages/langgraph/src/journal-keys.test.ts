import { Ledger, MemoryLedgerStore, validateKey } from "@durable-tools/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DURABLE_STEP_TOOL,
  type DurableStepIdentity,
  durableStepKey,
  stepLedgerKey,
  threadJournalKeyPrefix,
  threadJournalPrefix,
} from "./journal-keys.js";

/** Any UTF-16 text (lone surrogates included): thread ids, namespaces and step names are the user's. */
const anyText = fc.string({ unit: "binary" });
const identity: fc.Arbitrary<DurableStepIdentity> = fc.record({
  threadId: anyText,
  checkpointNs: anyText,
  task: anyText,
  name: anyText,
  occurrence: fc.nat(),
});

describe("durable step keys", () => {
  it("are valid ledger keys that start with their thread's journal prefix", () => {
    fc.assert(
      fc.property(identity, (id) => {
        const key = durableStepKey(id);
        expect(validateKey(key)).toBe(key);
        expect(key.startsWith(threadJournalPrefix(id.threadId))).toBe(true);
      }),
    );
  });

  it("differ whenever any part of the identity differs", () => {
    fc.assert(
      fc.property(identity, identity, (a, b) => {
        const same =
          a.threadId === b.threadId &&
          a.checkpointNs === b.checkpointNs &&
          a.task === b.task &&
          a.name === b.name &&
          a.occurrence === b.occurrence;
        expect(durableStepKey(a) === durableStepKey(b)).toBe(same);
      }),
    );
    // Parts that only differ in where a separator falls stay apart.
    const base = { threadId: "t", checkpointNs: "", occurrence: 0 };
    expect(durableStepKey({ ...base, task: "a|b", name: "c" })).not.toBe(
      durableStepKey({ ...base, task: "a", name: "b|c" }),
    );
  });

  it("never put one thread's step under another thread's journal prefix", () => {
    fc.assert(
      fc.property(identity, anyText, (id, otherThread) => {
        fc.pre(otherThread !== id.threadId);
        expect(durableStepKey(id).startsWith(threadJournalPrefix(otherThread))).toBe(false);
      }),
    );
  });

  it("the thread's ledger key prefix covers exactly the ledger keys of its steps, tenant included", () => {
    fc.assert(
      fc.property(
        identity,
        anyText,
        fc.option(fc.constantFrom("acme", "t 1", "a/b%c"), { nil: undefined }),
        (id, otherThread, tenant) => {
          const ledger = new Ledger({
            store: new MemoryLedgerStore(),
            ...(tenant === undefined ? {} : { tenant }),
          });
          const ledgerKey = (threadId: string) =>
            ledger.keyFor({ tool: DURABLE_STEP_TOOL, key: durableStepKey({ ...id, threadId }), args: null })
              .key;
          const prefix = threadJournalKeyPrefix(ledger, id.threadId);
          expect(ledgerKey(id.threadId).startsWith(prefix)).toBe(true);
          expect(ledgerKey(otherThread).startsWith(prefix)).toBe(otherThread === id.threadId);
        },
      ),
    );
  });

  it("stepLedgerKey is the ledger key execute() uses for a step key, tenant included", () => {
    fc.assert(
      fc.property(
        identity,
        fc.option(fc.constantFrom("acme", "t 1", "a/b%c"), { nil: undefined }),
        (id, tenant) => {
          const ledger = new Ledger({
            store: new MemoryLedgerStore(),
            ...(tenant === undefined ? {} : { tenant }),
          });
          const key = durableStepKey(id);
          expect(stepLedgerKey(ledger, key)).toBe(
            ledger.keyFor({ tool: DURABLE_STEP_TOOL, key, args: id }).key,
          );
        },
      ),
    );
  });
});
