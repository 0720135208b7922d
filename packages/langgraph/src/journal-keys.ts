import { KeySource, type Ledger, namespacedKey, sha256Hex } from "@durable-tools/core";

/*
 * How durable steps are keyed in the ledger. A step's key starts with a hash of its thread, so a
 * thread's whole journal is one key prefix.
 */

/** The ledger tool name every durable step is recorded under. */
export const DURABLE_STEP_TOOL = "langgraph.durableStep";

/** Where a step sits: the identity LangGraph gives the task it runs in, plus the step's place in it. */
export interface DurableStepIdentity {
  threadId: string;
  checkpointNs: string;
  /**
   * The task: `after:<parent checkpoint id>|step:<n>|path:<task path>` when the DurableCheckpointer
   * knows which checkpoint the task's checkpoint was built on (stable across a crash under durability
   * "async", see checkpoint-lineage.ts), `at:<checkpoint id>|path:<task path>` in a fork or an update
   * that branches; inside a subgraph, `step:<n>|path:<task path>` with `checkpointNs` renamed stably
   * (see stable-namespace.ts) or, under durability "exit", as LangGraph named it; else
   * `id:<LangGraph task id>` (see durable-step.ts, taskIdentity).
   */
  task: string;
  name: string;
  /** 0 for the first call of this name in the task run, 1 for the second, ... */
  occurrence: number;
}

/**
 * The ledger key of a step: `<thread hash>:<identity hash>` (SHA-256s, so any thread id or name fits
 * the key rules). The thread part makes a thread's whole journal one key prefix, so
 * `DurableCheckpointer.deleteThread` can delete it.
 */
export function durableStepKey(identity: DurableStepIdentity): string {
  return `${threadJournalPrefix(identity.threadId)}${sha256Hex(
    JSON.stringify([identity.checkpointNs, identity.task, identity.name, identity.occurrence]),
  )}`;
}

/** The key prefix every durable step of a thread shares (before the ledger's tenant and tool namespace). */
export function threadJournalPrefix(threadId: string): string {
  return `${sha256Hex(JSON.stringify(threadId)).slice(0, 32)}:`;
}

/** The full ledger key prefix of a thread's journal in `ledger`. */
export function threadJournalKeyPrefix(ledger: Ledger, threadId: string): string {
  return stepLedgerKey(ledger, threadJournalPrefix(threadId));
}

/** The full ledger key of a step key in `ledger` (what `ledger.get` takes). */
export function stepLedgerKey(ledger: Ledger, stepKey: string): string {
  return namespacedKey({ tenant: ledger.tenant, tool: DURABLE_STEP_TOOL }, KeySource.EXPLICIT, stepKey);
}
