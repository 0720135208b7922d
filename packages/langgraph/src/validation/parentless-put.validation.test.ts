/*
 * Pins why the conformance runs use `optimisticConcurrency: false` (see durable-initializer.ts): the
 * suite's parentless put into a thread that already has checkpoints is what the check refuses, and
 * nothing but the check stands between it and the wrapped saver.
 */
import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import { type Checkpoint, MemorySaver, uuid6 } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { DurableCheckpointer } from "../durable-checkpointer.js";
import { isCheckpointConflictError } from "../errors.js";

function checkpoint(): Checkpoint {
  return {
    v: 4,
    id: uuid6(0),
    ts: new Date().toISOString(),
    channel_values: {},
    channel_versions: {},
    versions_seen: {},
  };
}

const metadata = { source: "input", step: -1, parents: {} } as const;
const root = { configurable: { thread_id: "thread-1", checkpoint_ns: "" } };

function checkpointer(optimisticConcurrency?: boolean) {
  const ledger = new Ledger({ store: new MemoryLedgerStore() });
  return new DurableCheckpointer({ saver: new MemorySaver(), ledger, optimisticConcurrency });
}

describe("the conformance suite's parentless put into a non-empty thread", () => {
  it("is refused with the check on (the default), and nothing is written", async () => {
    const durable = checkpointer();
    const first = await durable.put(root, checkpoint(), metadata, {});
    const second = checkpoint();
    const error = await durable.put(root, second, metadata, {}).catch((e: unknown) => e);
    expect(isCheckpointConflictError(error)).toBe(true);
    expect((await durable.getTuple(root))?.checkpoint.id).toBe(first.configurable?.checkpoint_id);
    expect(await durable.getTuple({ configurable: { ...root.configurable, checkpoint_id: second.id } })).toBe(
      undefined,
    );
  });

  it("is stored with optimisticConcurrency: false, as by the wrapped saver", async () => {
    const durable = checkpointer(false);
    await durable.put(root, checkpoint(), metadata, {});
    const second = checkpoint();
    await durable.put(root, second, metadata, {});
    expect((await durable.getTuple(root))?.checkpoint.id).toBe(second.id);
  });
});
