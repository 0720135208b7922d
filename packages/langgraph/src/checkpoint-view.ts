import { LedgerUnavailableError } from "@durable-tools/core";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { type CheckpointLineage, type CheckpointOrigin, originOf } from "./checkpoint-lineage.js";
import type { RunRecords } from "./run-records.js";
import type { CheckpointView } from "./stable-namespace.js";
import type { StoredCheckpoint, StoredReader } from "./task-anchor.js";

/*
 * What a durableStep knows of its thread's checkpoints while it names its task: what the
 * DurableCheckpointer saw (its lineage, and what the run's loads showed), waiting for a checkpoint
 * only where it is sure to come, and reading storage only for what it did not see.
 */

/** How long a step waits for LangGraph to hand its task's checkpoint to the DurableCheckpointer. */
const LINEAGE_WAIT_MS = 10_000;

export interface ViewScope {
  threadId: string;
  lineage: CheckpointLineage;
  /** What the DurableCheckpointer learned of the step's run (`run`: its `config.control`). */
  runs: RunRecords | undefined;
  run: unknown;
  checkpointer: unknown;
  stepName: string;
}

export type PeekingView = CheckpointView & {
  peek(checkpointNs: string, checkpointId: string): CheckpointOrigin | undefined;
};

/**
 * `wait` says whose hand-over to the DurableCheckpointer to wait for: "all" (durability "async":
 * every checkpoint a subgraph above the step was scheduled by is written in the background), "root"
 * (the root checkpoint: "sync" hands it over before its tasks run, so waiting costs nothing; subgraph
 * checkpoints are only peeked at) or "none" (peek only). A subgraph namespace that no loop of the run
 * loaded stores no checkpoints (`checkpointer: false`): never waited for. A checkpoint not in memory
 * (forgotten under other threads' traffic, or not handed over yet) is read from storage first where it
 * may be stored: always when the view waits; with "none" (durability "exit" stores nothing while the
 * run goes on) only the root checkpoint the run started from.
 */
export function checkpointView(scope: ViewScope, wait: "all" | "root" | "none"): PeekingView {
  const { threadId, lineage, runs, run, checkpointer, stepName } = scope;
  const storedNow: StoredReader = (ns, id) => storedCheckpoint(checkpointer, threadId, ns, id);
  // Read at most once per step (a view lives for one durableStep call).
  const reads = new Map<string, Promise<StoredCheckpoint | undefined>>();
  const storedOnce: StoredReader = (ns, id) => {
    const slot = JSON.stringify([ns, id]);
    let read = reads.get(slot);
    if (read === undefined) {
      read = storedNow(ns, id);
      reads.set(slot, read);
    }
    return read;
  };
  const storedOrigin = async (ns: string, id: string, read: StoredReader) => {
    const origin = (await read(ns, id))?.origin;
    if (origin !== undefined) lineage.learn(threadId, ns, id, origin);
    return origin;
  };
  const waitsFor = (ns: string) =>
    wait === "all" ? ns === "" || runs?.loadedIn(run, threadId, ns) !== false : wait === "root" && ns === "";
  const mayBeStored = (ns: string, id: string) =>
    wait !== "none" || (ns === "" && runs?.startedFrom(run, threadId)?.checkpointId === id);
  return {
    peek: (ns, id) => lineage.peek(threadId, ns, id),
    origin: async (ns, id) => {
      const known = lineage.peek(threadId, ns, id);
      if (known !== undefined) return known;
      // Not in memory: forgotten (other threads' traffic pushed it out) or not handed over yet. A
      // stored checkpoint answers at once; only one not stored yet is waited for.
      const stored = mayBeStored(ns, id) ? await storedOrigin(ns, id, storedOnce) : undefined;
      if (stored !== undefined || !waitsFor(ns)) return stored;
      try {
        return await lineage.originOf(threadId, ns, id, LINEAGE_WAIT_MS);
      } catch (error) {
        // Handed over, forgotten and stored while this step waited for it: still known.
        const late = await storedOrigin(ns, id, storedNow);
        if (late !== undefined) return late;
        throw new LedgerUnavailableError(notHandedOver(stepName, threadId, ns, id), error);
      }
    },
    stored: storedOnce,
    invocation: (taskNs) => runs?.invocation(run, threadId, taskNs),
    subgraphOrdinal: (taskNs, counter) => runs?.subgraphOrdinal(run, threadId, taskNs, counter),
    sendCount: async (ns, id) => {
      const seen = lineage.peek(threadId, ns, id)?.sends;
      if (seen !== undefined) return seen;
      // A checkpoint the DurableCheckpointer did not see whole: read it, polling until it lands
      // where it was waited for (under "async" it may be handed over but not stored yet).
      const deadline = Date.now() + (waitsFor(ns) ? LINEAGE_WAIT_MS : 0);
      for (let delay = 1; ; delay = Math.min(delay * 2, 100)) {
        const stored = await storedCheckpoint(checkpointer, threadId, ns, id);
        // (A stored checkpoint without a `__pregel_tasks` value schedules no Sends.)
        if (stored !== undefined) return stored.origin.sends ?? 0;
        if (Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      if (!waitsFor(ns)) return undefined;
      throw new LedgerUnavailableError(
        `durableStep("${stepName}"): checkpoint ${id} of thread ${threadId}${ns === "" ? "" : ` (namespace "${ns}")`} schedules the Send that started this step's subgraph, and it was not stored within ${LINEAGE_WAIT_MS} ms, so the step cannot be named stably and did not run. LangGraph handed the checkpoint over; its write failed or is still waiting on the checkpoint store.`,
      );
    },
  };
}

function notHandedOver(stepName: string, threadId: string, ns: string, id: string): string {
  const head = `durableStep("${stepName}"): checkpoint ${id} of thread ${threadId}`;
  if (ns === "") {
    return `${head} was not handed to the DurableCheckpointer within ${LINEAGE_WAIT_MS} ms, so the step's task cannot be named stably; the step did not run. Under durability "async" LangGraph writes a run's checkpoints one after another in the background and this one never started: a checkpoint write before it in this run failed or is still waiting on the checkpoint store. (A root graph run with durability "exit" while the subgraph around this step was invoked with another durability also never writes it: give the subgraph the root's config.)`;
  }
  return `${head}, namespace "${ns}", was not handed to the DurableCheckpointer within ${LINEAGE_WAIT_MS} ms. A step in a nested subgraph is named after the checkpoints of the subgraphs above it, and under durability "async" LangGraph writes them in the background; the subgraph running in "${ns}" loaded its checkpoints through this DurableCheckpointer but never wrote this one: a checkpoint write of this run failed or is still waiting on the checkpoint store. The step did not run.`;
}

/**
 * The checkpoint as stored, read through the checkpointer (which also learns its origin). Its task
 * writes can grow (a task finishing there later), so it is read anew for each step.
 */
async function storedCheckpoint(
  checkpointer: unknown,
  threadId: string,
  checkpointNs: string,
  checkpointId: string,
): Promise<StoredCheckpoint | undefined> {
  const saver = checkpointer as BaseCheckpointSaver;
  if (typeof saver?.getTuple !== "function") return undefined;
  const tuple = await saver.getTuple({
    configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: checkpointId },
  });
  if (tuple === undefined || tuple.checkpoint.id !== checkpointId) return undefined;
  return {
    origin: originOf(tuple.checkpoint, tuple.parentConfig, tuple.metadata),
    writes: (tuple.pendingWrites ?? []).map(([taskId, channel]) => [taskId, channel] as const),
  };
}
