import { RedisSaver } from "@durable-tools/redis/saver";

/**
 * A diagnostic, never a saver to use: RedisSaver whose `put` answers LangGraph at once, before Redis
 * has acknowledged it, and keeps the acknowledgement for `settle()`. LangGraph (1.7.3) starts each
 * `put` only when the one before it is acknowledged; with this saver it sends them back to back on
 * one connection (Redis runs them in order). A run timed up to `settle()` is what RedisSaver would
 * cost if LangGraph pipelined its puts and awaited all of them at the end of the run ("async" only:
 * under "sync" this would let a step start before its checkpoint is stored).
 */
export class PipelinedPutsSaver extends RedisSaver {
  #pending: Promise<unknown>[] = [];

  override put(...args: Parameters<RedisSaver["put"]>): ReturnType<RedisSaver["put"]> {
    const acknowledged = super.put(...args);
    // Handled here so a failed put waits for settle() instead of crashing the process as unhandled.
    acknowledged.catch(() => {});
    this.#pending.push(acknowledged);
    const [config, checkpoint] = args;
    return Promise.resolve({ configurable: { ...config.configurable, checkpoint_id: checkpoint.id } });
  }

  /** Waits until Redis has acknowledged every put sent so far (rejects if one failed). */
  async settle(): Promise<void> {
    const pending = this.#pending;
    this.#pending = [];
    await Promise.all(pending);
  }
}
