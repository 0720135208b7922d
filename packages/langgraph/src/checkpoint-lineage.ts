import { LedgerUnavailableError } from "@durable-tools/core";

/*
 * Which checkpoint each checkpoint was built on, as this process has seen it (from `put` calls and
 * from the tuples `getTuple` loads). durableStep uses it to name a task by something that survives
 * a crash under durability "async": LangGraph derives a task's id from the id of the checkpoint that
 * scheduled it, and that checkpoint is written in the background. A process killed before it landed
 * resumes from its parent and schedules the same task again, in a checkpoint with a NEW id, hence a
 * new task id. The parent's id, the step and the task's path are the same both times.
 */

/** Most checkpoints remembered; the oldest are forgotten first (a resumed run learns again from getTuple). */
const MAX_REMEMBERED = 10_000;

/** What is known of one checkpoint: the checkpoint it was built on (null: the first) and why it was written. */
export interface CheckpointOrigin {
  parentId: string | null;
  /** `metadata.source`: "input", "loop", "update", "fork" (undefined if the saver did not keep it). */
  source: string | undefined;
  /** `metadata.step`: the tasks this checkpoint schedules run at the next step. */
  step?: number | undefined;
  /** The channels it has versions for (what may have triggered the tasks it schedules). */
  channels?: readonly string[];
}

export class CheckpointLineage {
  readonly #origins = new Map<string, CheckpointOrigin>();
  readonly #waiters = new Map<string, ((origin: CheckpointOrigin) => void)[]>();

  /** Records the origin of `checkpointId` (of `threadId`, `checkpointNs`). */
  learn(threadId: string, checkpointNs: string, checkpointId: string, origin: CheckpointOrigin): void {
    const slot = slotOf(threadId, checkpointNs, checkpointId);
    if (!this.#origins.has(slot) && this.#origins.size >= MAX_REMEMBERED) {
      const oldest = this.#origins.keys().next().value;
      if (oldest !== undefined) this.#origins.delete(oldest);
    }
    this.#origins.set(slot, origin);
    const waiting = this.#waiters.get(slot);
    if (waiting === undefined) return;
    this.#waiters.delete(slot);
    for (const wake of waiting) wake(origin);
  }

  /** The origin of a checkpoint if it is known now. */
  peek(threadId: string, checkpointNs: string, checkpointId: string): CheckpointOrigin | undefined {
    return this.#origins.get(slotOf(threadId, checkpointNs, checkpointId));
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
    const known = this.#origins.get(slot);
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
}

function slotOf(threadId: string, checkpointNs: string, checkpointId: string): string {
  return JSON.stringify([threadId, checkpointNs, checkpointId]);
}
