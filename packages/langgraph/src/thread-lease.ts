import {
  InvalidConfigurationError,
  isStaleOwnerError,
  KeySource,
  LeaseKeeper,
  type Ledger,
  namespacedKey,
  positiveInteger,
  sleep,
} from "@durable-tools/core";
import { ThreadBusyError } from "./errors.js";
import { threadJournalPrefix } from "./journal-keys.js";

/** The ledger tool name thread leases are recorded under. */
export const THREAD_LEASE_TOOL = "langgraph.threadLease";

export interface ThreadLeaseOptions {
  /** The ledger whose store holds the lease (any store: memory, SQLite, Redis, Redis Cluster). */
  ledger: Ledger;
  /** How long the lease lasts without renewal; renewed every third of it while `fn` runs. Default 30 s. */
  leaseMs?: number;
  /** How long to wait for another worker's lease before `ThreadBusyError`. Default 60 s; 0: do not wait. */
  waitMs?: number;
  /** Aborts the wait, and the signal `fn` gets. */
  signal?: AbortSignal;
}

const MAX_POLL_MS = 1_000;

/**
 * Runs `fn` while holding the thread's lease, so that workers resuming one thread take turns instead
 * of one failing with `CheckpointConflictError`. A worker that finds the lease held waits (polling,
 * up to `waitMs`) until the holder releases it or its lease expires (the holder died). `fn` gets an
 * AbortSignal that fires if the lease is lost (another worker took it over after it expired, e.g.
 * because this process stalled): stop then, the other worker now owns the thread.
 *
 *   await withThreadLease(threadId, () => graph.invoke(null, { configurable: { thread_id: threadId } }), { ledger });
 */
export async function withThreadLease<T>(
  threadId: string,
  fn: (signal: AbortSignal) => Promise<T>,
  options: ThreadLeaseOptions,
): Promise<T> {
  if (typeof threadId !== "string" || threadId.length === 0) {
    throw new InvalidConfigurationError(
      "withThreadLease(threadId, fn, options) needs a non-empty thread id.",
    );
  }
  const { ledger } = options;
  const leaseMs = positiveInteger("leaseMs", options.leaseMs ?? 30_000);
  const waitMs = options.waitMs ?? 60_000;
  if (!Number.isFinite(waitMs) || waitMs < 0) {
    throw new InvalidConfigurationError(
      `waitMs must be a number of milliseconds >= 0, got ${String(waitMs)}.`,
    );
  }
  const key = namespacedKey(
    { tenant: ledger.tenant, tool: THREAD_LEASE_TOOL },
    KeySource.EXPLICIT,
    `${threadJournalPrefix(threadId)}lease`,
  );
  const owner = ledger.newOwner();
  const startedAt = ledger.now();
  let pollMs = 10;
  for (;;) {
    options.signal?.throwIfAborted();
    const claim = await ledger.store.claim({
      key,
      tool: THREAD_LEASE_TOOL,
      fingerprint: "thread-lease",
      owner,
      now: ledger.now(),
      leaseMs,
      initialPath: [],
      initialAttempt: 0,
      scope: threadId,
      events: [],
      takeoverEvents: [],
    });
    if (claim.outcome !== "existing") {
      const record = claim.record;
      const keeper = new LeaseKeeper(
        ledger.store,
        record,
        leaseMs,
        () => ledger.now(),
        () => {},
        options.signal,
      );
      try {
        return await fn(keeper.signal);
      } finally {
        await keeper.stop();
        await ledger.store
          .release({ key, owner, fencingToken: record.fencingToken, events: [] })
          .catch((error: unknown) => {
            if (!isStaleOwnerError(error)) throw error; // lost to another worker: nothing of ours to free
          });
      }
    }
    const holder = claim.record;
    const waited = ledger.now() - startedAt;
    if (waited >= waitMs) throw new ThreadBusyError(threadId, holder.owner, waited);
    const leaseLeft = (holder.leaseExpiresAt ?? ledger.now()) - ledger.now();
    await sleep(Math.max(1, Math.min(pollMs, waitMs - waited, leaseLeft + 1)), options.signal);
    pollMs = Math.min(MAX_POLL_MS, pollMs * 2);
  }
}
