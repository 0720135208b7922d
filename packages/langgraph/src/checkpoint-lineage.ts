import { LedgerUnavailableError } from "@durable-tools/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import type { ChannelVersions, Checkpoint, CheckpointMetadata } from "@langchain/langgraph-checkpoint";

/*
 * Which checkpoint each checkpoint was built on, as this process has seen it (from `put` calls and
 * from the tuples `getTuple` loads). durableStep uses it to name a task by something that survives
 * a crash under durability "async": LangGraph derives a task's id from the id of the checkpoint that
 * scheduled it, and that checkpoint is written in the background. A process killed before it landed
 * resumes from its parent and schedules the same task again, in a checkpoint with a NEW id, hence a
 * new task id. The parent's id, the step and the task's path are the same both times.
 *
 * It is also where channel deltas (channel-deltas.ts) keep which checkpoint holds each channel value:
 * stored checkpoints never change, so what is known of one stays right.
 */

/**
 * Most checkpoints remembered, across threads; the least recently learned or asked about are
 * forgotten first, so a running task's checkpoints outlast other threads' traffic. A forgotten one is
 * read back from storage (checkpoint-view.ts).
 */
const MAX_REMEMBERED = 10_000;

/**
 * The stored metadata's mark on the first checkpoint of a run that started, on purpose, from a
 * checkpoint its thread had moved past (a `checkpoint_id` given to invoke / stream), when LangGraph
 * wrote no "fork" checkpoint for it: new input there ("input"), a resume there or any branch under
 * durability "exit" ("loop"). The DurableCheckpointer sets it; such a checkpoint is a branch.
 */
export const BRANCH_KEY = "durable_tools_branch";

/** What is known of one checkpoint: the checkpoint it was built on (null: the first) and why it was written. */
export interface CheckpointOrigin {
  parentId: string | null;
  /**
   * `metadata.source`: "input", "loop", "update", "fork" (undefined if the saver did not keep it);
   * "fork" also for a checkpoint marked with `BRANCH_KEY`, which starts a branch as a fork does.
   */
  source: string | undefined;
  /** `metadata.step`: the tasks this checkpoint schedules run at the next step. */
  step?: number | undefined;
  /** Its channel versions (the channels that may have triggered the tasks it schedules). */
  versions?: ChannelVersions;
  /**
   * How many Sends it schedules (the length of its `__pregel_tasks` channel), when the checkpoint
   * seen held that channel's value: the Send indexes of its tasks are below it.
   */
  sends?: number | undefined;
  /** With channel deltas: channel name to the id of the checkpoint whose stored values hold it. */
  holders?: Readonly<Record<string, string>>;
}

/** A fork or an `updateState` checkpoint: it branches from its parent on purpose, and its tasks run anew. */
export function isBranch(origin: { source?: string | undefined } | undefined): boolean {
  return origin?.source === "fork" || origin?.source === "update";
}

/**
 * A checkpoint whose tasks are named by its own id, not by its parent: a branch (it runs anew on
 * purpose), and an "input" checkpoint of the root (or of a namespace that `ownsItsHistory`), which
 * carries its run's input (a `Command({ update, goto })` runs a node from it), so that two runs given
 * different input on one parent never share their tasks' names. Another subgraph's "input" checkpoint
 * is not: its input comes from the task above, already named stably, and its id changes when a crash
 * makes the subgraph start over.
 */
export function namedByOwnId(origin: { source?: string | undefined } | undefined, ns: string): boolean {
  return isBranch(origin) || (ownsItsHistory(ns) && origin?.source === "input");
}

/**
 * A namespace whose checkpoints make one history across runs, as the root's do: the root, and a
 * subgraph compiled with `checkpointer: true`, whose namespace LangGraph writes without task ids
 * (`node`, `node|inner`), so that each invocation continues where the last one stopped. Its tasks
 * are named as the root's are, by the checkpoints of that history, never by the namespace alone:
 * Sends that invoke it at once each start from an input checkpoint of their own.
 */
export function ownsItsHistory(ns: string): boolean {
  return ns.split("|").every((segment) => !segment.includes(":"));
}

/**
 * What a checkpoint put (or read back) says of its origin: `parentConfig` names its parent; a
 * checkpoint marked as starting a branch (`BRANCH_KEY`) counts as a fork.
 */
export function originOf(
  checkpoint: Checkpoint,
  parentConfig: RunnableConfig | undefined,
  metadata: CheckpointMetadata | undefined,
): CheckpointOrigin {
  const branch = (metadata as Record<string, unknown> | undefined)?.[BRANCH_KEY] === true;
  const sends = (checkpoint.channel_values as Record<string, unknown> | undefined)?.__pregel_tasks;
  return {
    parentId: (parentConfig?.configurable?.checkpoint_id as string | undefined) ?? null,
    source: branch ? "fork" : metadata?.source,
    step: metadata?.step,
    versions: checkpoint.channel_versions,
    sends: Array.isArray(sends) ? sends.length : undefined,
  };
}

export class CheckpointLineage {
  readonly #origins = new Map<string, CheckpointOrigin>();
  readonly #waiters = new Map<string, ((origin: CheckpointOrigin) => void)[]>();

  /** Records the origin of `checkpointId` (of `threadId`, `checkpointNs`), keeping holders and Sends already known. */
  learn(threadId: string, checkpointNs: string, checkpointId: string, origin: CheckpointOrigin): void {
    const slot = slotOf(threadId, checkpointNs, checkpointId);
    const known = this.#origins.get(slot);
    // Deleted then set again below: a Map keeps insertion order, so this makes it the most recent.
    if (known !== undefined) this.#origins.delete(slot);
    else if (this.#origins.size >= MAX_REMEMBERED) {
      const oldest = this.#origins.keys().next().value;
      if (oldest !== undefined) this.#origins.delete(oldest);
    }
    // A checkpoint read back as a delta may not hold what its put showed (its holders, its Sends).
    const keep =
      known !== undefined &&
      ((known.holders && !origin.holders) || (known.sends !== undefined && origin.sends === undefined));
    this.#origins.set(
      slot,
      keep
        ? { ...origin, holders: origin.holders ?? known.holders, sends: origin.sends ?? known.sends }
        : origin,
    );
    const waiting = this.#waiters.get(slot);
    if (waiting === undefined) return;
    this.#waiters.delete(slot);
    for (const wake of waiting) wake(origin);
  }

  /** Records where a learned checkpoint's channel values are stored (no-op if it was forgotten). */
  learnHolders(
    threadId: string,
    checkpointNs: string,
    checkpointId: string,
    holders: Readonly<Record<string, string>>,
  ): void {
    const known = this.#origins.get(slotOf(threadId, checkpointNs, checkpointId));
    if (known !== undefined) known.holders = holders;
  }

  /** Forgets a deleted thread (a thread re-created under the same ids must not inherit what it held). */
  forget(threadId: string): void {
    const prefix = `${JSON.stringify([threadId]).slice(0, -1)},`;
    for (const slot of this.#origins.keys()) if (slot.startsWith(prefix)) this.#origins.delete(slot);
  }

  /** The origin of a checkpoint if it is known now. */
  peek(threadId: string, checkpointNs: string, checkpointId: string): CheckpointOrigin | undefined {
    return this.#used(slotOf(threadId, checkpointNs, checkpointId));
  }

  /**
   * The origin of a checkpoint, waiting up to `waitMs` for LangGraph to hand it to the checkpointer
   * (under "async" the `put` of the checkpoint a task runs in may come after the task started).
   * Fails closed: a step that cannot be named stably does not run.
   */
  originOf(
    threadId: string,
    checkpointNs: string,
    checkpointId: string,
    waitMs: number,
  ): Promise<CheckpointOrigin> {
    const slot = slotOf(threadId, checkpointNs, checkpointId);
    const known = this.#used(slot);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const waiting = this.#waiters.get(slot) ?? [];
        const rest = waiting.filter((wake) => wake !== onLearned);
        if (rest.length > 0) this.#waiters.set(slot, rest);
        else this.#waiters.delete(slot);
        reject(
          new LedgerUnavailableError(
            `durableStep: checkpoint ${checkpointId} of thread ${threadId} was not handed to the DurableCheckpointer within ${waitMs} ms, so its task cannot be named stably; the step did not run. (An earlier checkpoint write of this run probably failed.)`,
          ),
        );
      }, waitMs);
      const onLearned = (origin: CheckpointOrigin) => {
        clearTimeout(timer);
        resolve(origin);
      };
      this.#waiters.set(slot, [...(this.#waiters.get(slot) ?? []), onLearned]);
    });
  }

  /** The origin in `slot`, moved to the most recent place (asked about: a live task may ask again). */
  #used(slot: string): CheckpointOrigin | undefined {
    const known = this.#origins.get(slot);
    if (known !== undefined) {
      this.#origins.delete(slot);
      this.#origins.set(slot, known);
    }
    return known;
  }
}

function slotOf(threadId: string, checkpointNs: string, checkpointId: string): string {
  return JSON.stringify([threadId, checkpointNs, checkpointId]);
}
