/*
 * Builds the conformance suite's initializer for a DurableCheckpointer over some saver. The name is
 * ours (not a built-in saver's), so the suite skips nothing: it also runs "should only store
 * channel_values that have changed", which it skips for MemorySaver, SQLite and MongoDB by name; over
 * those two the wrapper passes it by storing channel deltas itself (../channel-deltas.ts).
 *
 * Optimistic concurrency is off here, and only here. The suite tests a saver's storage contract by
 * calling put() directly, and two of its tests put a checkpoint without a parent (no checkpoint_id)
 * into a thread that already has checkpoints: "#put should only store channel_values that have
 * changed" chains three parentless puts into one thread, and "#getTuple namespace: child should
 * migrate pending sends" reuses "thread-1", which the block's earlier tests filled. LangGraph never
 * does that: its loop always puts with the checkpoint_id it read as parent (a parentless put means it
 * read an empty thread), so for a real graph such a put is exactly the lost-update race the check
 * refuses (two first runs of one new thread). With the check on, those 2 of the 718 fail with
 * CheckpointConflictError and the other 716 pass. The check itself is tested on real graph runs in
 * ../durable-checkpointer.test.ts and, for the suite's parentless pattern, in
 * parentless-put.validation.test.ts.
 */
import { Ledger, MemoryLedgerStore } from "@durable-tools/core";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import type { CheckpointSaverTestInitializer } from "@langchain/langgraph-checkpoint-validation";
import { DurableCheckpointer } from "../durable-checkpointer.js";

export interface DurableInitializerOptions<S extends BaseCheckpointSaver> {
  /** Shown in the suite's describe names: `@durable-tools/langgraph:DurableCheckpointer(<saverName>)`. */
  saverName: string;
  /** A fresh, empty saver for one block of the suite. */
  createSaver: () => S | Promise<S>;
  /** Releases what createSaver made (after the block's threads were deleted). */
  destroySaver?: (saver: S) => void | Promise<void>;
  beforeAll?: () => Promise<void>;
  afterAll?: () => Promise<void>;
}

export function durableInitializer<S extends BaseCheckpointSaver>(
  options: DurableInitializerOptions<S>,
): CheckpointSaverTestInitializer<DurableCheckpointer> {
  return {
    checkpointerName: `@durable-tools/langgraph:DurableCheckpointer(${options.saverName})`,
    beforeAllTimeout: 30_000,
    beforeAll: options.beforeAll,
    afterAll: options.afterAll,
    createCheckpointer: async () => {
      const saver = await options.createSaver();
      const ledger = new Ledger({ store: new MemoryLedgerStore() });
      return new DurableCheckpointer({ saver, ledger, optimisticConcurrency: false });
    },
    destroyCheckpointer: async (checkpointer) => {
      for await (const tuple of checkpointer.list({})) {
        await checkpointer.deleteThread(tuple.config.configurable?.thread_id as string);
      }
      await options.destroySaver?.(checkpointer.saver as S);
    },
  };
}
