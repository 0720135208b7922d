import { InvalidConfigurationError, type Ledger } from "@durable-tools/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  type PendingWrite,
} from "@langchain/langgraph-checkpoint";
import { ChannelDeltas } from "./channel-deltas.js";
import { BRANCH_KEY, CheckpointLineage, isBranch, originOf } from "./checkpoint-lineage.js";
import { namespaceOf, threadOf } from "./config-fields.js";
import { CheckpointConflictError } from "./errors.js";
import { threadJournalKeyPrefix } from "./journal-keys.js";
import { latestCheckpointId } from "./latest-checkpoint.js";
import { RunRecords, runOf } from "./run-records.js";

/** Marks a saver that carries a ledger for `durableStep()` (works across copies of this package). */
export const DURABLE_LEDGER = Symbol.for("durable-tools.langgraph.ledger");

/** The `configurable` key `durableStep()` reads a ledger from. */
export const DURABLE_LEDGER_KEY = "durable_ledger";

export interface DurableCheckpointerOptions {
  /** The checkpointer that stores the checkpoints (MemorySaver, SqliteSaver, ...). */
  saver: BaseCheckpointSaver;
  /** The ledger `durableStep()` journals into when a node runs under this checkpointer. */
  ledger: Ledger;
  /**
   * Refuse a root-namespace checkpoint whose parent is not the thread's latest checkpoint. Default true.
   */
  optimisticConcurrency?: boolean;
  /**
   * Store only the channel values that changed in each checkpoint, and read the others back from the
   * checkpoint that holds them (see channel-deltas.ts). Default: on for savers that store whole
   * checkpoints (MemorySaver, SqliteSaver), off for the rest (RedisSaver and PostgresSaver store deltas
   * themselves; a saver that prunes old checkpoints must keep it off). With it on, read the thread
   * through the DurableCheckpointer, not the saver alone.
   */
  channelDeltas?: boolean;
}

/**
 * Wraps any checkpointer: delegates storage to it, orders a thread's checkpoint after the task writes
 * already started for it, refuses a checkpoint built on a stale parent (`CheckpointConflictError`) and
 * hands its ledger to `durableStep()` in the nodes it runs.
 */
export class DurableCheckpointer extends BaseCheckpointSaver {
  readonly saver: BaseCheckpointSaver;
  readonly ledger: Ledger;
  readonly [DURABLE_LEDGER]: Ledger;
  /** Which checkpoint each checkpoint was built on, as seen by this process (see checkpoint-lineage.ts). */
  readonly lineage = new CheckpointLineage();
  readonly #optimisticConcurrency: boolean;
  /** Set when this wrapper stores channel deltas for its saver. */
  readonly #deltas: ChannelDeltas | undefined;
  /** The saver's compare-and-set put, if it has one (RedisSaver). */
  readonly #putIfLatest: PutIfLatest | undefined;
  /** putWrites calls in flight, per thread. */
  readonly #pendingWrites = new Map<string, Set<Promise<unknown>>>();
  /** Serialises the check-then-put of each thread (within this process). */
  readonly #putLocks = new Map<string, Promise<unknown>>();
  /**
   * Per LangGraph run (its `config.control`), what its loads showed: where it started on each thread
   * (and whether that checkpoint was already superseded: the run branches), which subgraph namespaces
   * loaded their checkpoint, and the tasks that invoked them (see run-records.ts). Held weakly.
   */
  readonly runs = new RunRecords();

  constructor(options: DurableCheckpointerOptions) {
    if (options?.saver === undefined || options.ledger === undefined) {
      throw new InvalidConfigurationError(
        "new DurableCheckpointer({ saver, ledger }) needs both a saver (e.g. new MemorySaver()) and a ledger (new Ledger({ store })).",
      );
    }
    refuseBackgroundConfirmation(options.ledger, "new DurableCheckpointer({ saver, ledger })");
    super(options.saver.serde);
    this.saver = options.saver;
    this.ledger = options.ledger;
    this[DURABLE_LEDGER] = options.ledger;
    this.#optimisticConcurrency = options.optimisticConcurrency ?? true;
    this.#putIfLatest = putIfLatestOf(options.saver);
    const deltas = options.channelDeltas ?? ChannelDeltas.suitFor(options.saver);
    this.#deltas = deltas ? new ChannelDeltas(options.saver, this.lineage) : undefined;
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const starting = this.runs.loading(config);
    // A run given a checkpoint_id starts here: is that checkpoint still the thread's latest? Read beside
    // the load, once per run and thread (see #branchesFrom). Any other load is the saver's alone.
    const addressed = starting?.addressed === true;
    const [stored, latestId] = await Promise.all([
      this.saver.getTuple(config),
      addressed ? latestCheckpointId(this.saver, threadOf(config) as string) : undefined,
    ]);
    if (stored === undefined) return undefined;
    if (starting !== undefined) {
      starting.start.checkpointId = stored.checkpoint.id;
      if (addressed) starting.start.superseded = stored.checkpoint.id !== latestId;
    }
    return this.#loaded(stored);
  }

  async *list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    // A subgraph's first load during time travel is a list (LangGraph's ReplayState).
    if (namespaceOf(config) !== "") this.runs.loading(config);
    if (this.#deltas === undefined) {
      yield* this.saver.list(config, options);
      return;
    }
    for await (const stored of this.saver.list(config, options)) yield await this.#loaded(stored);
  }

  /**
   * Storing deltas, the walk goes through this wrapper's getTuple (BaseCheckpointSaver's walk), which
   * reads whole checkpoints; otherwise the saver's own walk is used (if it has one).
   */
  override getDeltaChannelHistory(
    options: Parameters<BaseCheckpointSaver["getDeltaChannelHistory"]>[0],
  ): ReturnType<BaseCheckpointSaver["getDeltaChannelHistory"]> {
    const own = this.saver.getDeltaChannelHistory;
    return this.#deltas === undefined && typeof own === "function"
      ? own.call(this.saver, options)
      : super.getDeltaChannelHistory(options);
  }

  override getNextVersion(current: number | undefined): number {
    return this.saver.getNextVersion(current);
  }

  putWrites(
    config: RunnableConfig,
    writes: PendingWrite[],
    taskId: string,
    taskPath?: string,
  ): Promise<void> {
    const threadId = threadOf(config);
    const write = this.saver.putWrites(config, writes, taskId, taskPath);
    if (threadId === undefined) return write;
    let pending = this.#pendingWrites.get(threadId);
    if (pending === undefined) {
      pending = new Set();
      this.#pendingWrites.set(threadId, pending);
    }
    const tracked = write.finally(() => {
      pending.delete(tracked);
      if (pending.size === 0 && this.#pendingWrites.get(threadId) === pending) {
        this.#pendingWrites.delete(threadId);
      }
    });
    pending.add(tracked);
    return tracked;
  }

  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const threadId = threadOf(config);
    if (threadId === undefined) return this.saver.put(config, checkpoint, metadata, newVersions);
    const ns = namespaceOf(config);
    const parent = config.configurable?.checkpoint_id as string | undefined;
    // The first checkpoint of a run that started from an older checkpoint on purpose starts a branch:
    // not checked against the latest, and marked so that its tasks are named as a fork's are.
    // A root-namespace checkpoint that does not itself branch (a fork or an update) continues the
    // thread, unless its run branches.
    const continuesThread = ns === "" && !isBranch(metadata);
    const branches = continuesThread && this.#branchesFrom(config, threadId, parent);
    if (branches) metadata = { ...metadata, [BRANCH_KEY]: true } as CheckpointMetadata;
    // Learned before any await: the tasks of this checkpoint may already be running (durability "async").
    this.lineage.learn(threadId, ns, checkpoint.id, originOf(checkpoint, config, metadata));
    if (this.#deltas !== undefined) {
      ({ checkpoint, metadata } = await this.#deltas.shrink(config, checkpoint, metadata, newVersions));
    }
    const pending = [...(this.#pendingWrites.get(threadId) ?? [])];
    // Root-namespace checkpoints that continue the thread are checked; branches and subgraphs are not
    // (subgraph namespaces are written by the parent's task).
    const checkParent = this.#optimisticConcurrency && continuesThread && !branches;
    if (this.#putIfLatest !== undefined) {
      // A saver that checks the parent in the write itself (RedisSaver): atomic across processes, no
      // read first, and no lock. Checked or not, the put goes out beside the task writes still in
      // flight (one connection, sent after them) and is acknowledged only once they have landed too
      // (write ordering as the caller sees it).
      const putting = checkParent
        ? this.#putIfLatest(config, checkpoint, metadata, newVersions, parent).then((outcome) => {
            if (!outcome.ok) throw conflict(threadId, parent, outcome.latestCheckpointId);
            return outcome.config;
          })
        : ns !== ""
          ? this.saver.put(config, checkpoint, metadata, newVersions)
          : this.#withLock(threadId, () => this.saver.put(config, checkpoint, metadata, newVersions));
      // Its failure is the caller's once the writes have landed; until then it must not go unhandled.
      putting.catch(() => undefined);
      if (pending.length > 0) await Promise.allSettled(pending);
      return putting;
    }
    // (a) write ordering: every task write already started for this thread lands first.
    if (pending.length > 0) await Promise.allSettled(pending);
    // A subgraph's checkpoint is never checked, so it need not wait for the root's (LangGraph orders
    // the puts of each namespace itself).
    if (ns !== "") return this.saver.put(config, checkpoint, metadata, newVersions);
    // (b) optimistic concurrency, check-then-put serialised per thread.
    return this.#withLock(threadId, async () => {
      if (checkParent) {
        const latestId = await latestCheckpointId(this.saver, threadId);
        if (parent !== latestId) throw conflict(threadId, parent, latestId);
      }
      return this.saver.put(config, checkpoint, metadata, newVersions);
    });
  }

  /**
   * Deletes the thread's checkpoints and writes, then its journal: every `durableStep` record of the
   * thread, in any namespace. (Records of `durableTool` calls are the tools' own, kept until they
   * expire: deleting them could let a later thread with the same id repeat a real side effect.)
   */
  async deleteThread(threadId: string): Promise<void> {
    await this.saver.deleteThread(threadId);
    this.lineage.forget(threadId);
    await this.ledger.deleteByKeyPrefix(threadJournalKeyPrefix(this.ledger, threadId));
  }

  /** A tuple read from the saver: its origin learned, and whole again if it was stored as a delta. */
  #loaded(stored: CheckpointTuple): CheckpointTuple | Promise<CheckpointTuple> {
    const threadId = threadOf(stored.config);
    if (threadId !== undefined) {
      const origin = originOf(stored.checkpoint, stored.parentConfig, stored.metadata);
      this.lineage.learn(threadId, namespaceOf(stored.config), stored.checkpoint.id, origin);
    }
    return this.#deltas === undefined ? stored : this.#deltas.expand(stored);
  }

  /**
   * True when this put is the first checkpoint of a run that started, on purpose, from a checkpoint
   * the thread had already moved past: LangGraph was given that checkpoint's id (`invoke(input |
   * null | Command, { configurable: { thread_id, checkpoint_id } })`) and loaded it with getTuple.
   * Such a run branches from it (as LangGraph itself decides: the addressed checkpoint is
   * superseded), and it writes its first checkpoint on it with source "fork", or, without a fork
   * checkpoint, "input" (new input) or "loop" (a resume there, or any branch under durability
   * "exit"). The run's later checkpoints build on its own, so they are checked as usual. The run is
   * known by its `config.control` (one per LangGraph run, carried into every put it makes), so a
   * run that resumed the thread's head never inherits another run's permission to branch.
   */
  #branchesFrom(config: RunnableConfig, threadId: string, parent: string | undefined): boolean {
    if (parent === undefined) return false;
    const start = this.runs.startedFrom(runOf(config), threadId);
    return start?.superseded === true && start.checkpointId === parent;
  }

  async #withLock<T>(threadId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#putLocks.get(threadId) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.#putLocks.set(threadId, settled);
    try {
      return await run;
    } finally {
      if (this.#putLocks.get(threadId) === settled) this.#putLocks.delete(threadId);
    }
  }
}

/**
 * A step journal's record must be CONFIRMED before the step's output moves on: a crash just after a
 * step returned must find its result on record and skip it, not find it in doubt (steps have no
 * reconcile hook). A ledger that confirms after returning cannot promise that.
 */
export function refuseBackgroundConfirmation(ledger: Ledger, user: string): void {
  if (ledger.confirmation !== "background") return;
  throw new InvalidConfigurationError(
    `${user} needs a ledger that records a step before its result moves on: its ledger has confirmation "background". Give it a ledger with confirmation "awaited" (the default); a ledger with background confirmation can still serve durable tools.`,
  );
}

/** The ledger a checkpointer carries, if it is a `DurableCheckpointer` (of any copy of this package). */
export function ledgerOfCheckpointer(checkpointer: unknown): Ledger | undefined {
  if (typeof checkpointer !== "object" || checkpointer === null) return undefined;
  return (checkpointer as { [DURABLE_LEDGER]?: Ledger })[DURABLE_LEDGER];
}

/** The checkpoint lineage a checkpointer keeps, if it is a `DurableCheckpointer`. */
export function lineageOfCheckpointer(checkpointer: unknown): CheckpointLineage | undefined {
  const lineage = (checkpointer as { lineage?: unknown } | null | undefined)?.lineage;
  return lineage instanceof CheckpointLineage ? lineage : undefined;
}

/** What a checkpointer learned of LangGraph runs' loads, if it is a `DurableCheckpointer`. */
export function runsOfCheckpointer(checkpointer: unknown): RunRecords | undefined {
  const runs = (checkpointer as { runs?: unknown } | null | undefined)?.runs;
  return runs instanceof RunRecords ? runs : undefined;
}

/** A saver's compare-and-set put (our RedisSaver has one), bound to it. */
type PutIfLatest = (
  config: RunnableConfig,
  checkpoint: Checkpoint,
  metadata: CheckpointMetadata,
  newVersions: ChannelVersions,
  expectedLatestId: string | undefined,
) => Promise<{ ok: true; config: RunnableConfig } | { ok: false; latestCheckpointId: string | undefined }>;

function conflict(
  threadId: string,
  parent: string | undefined,
  latest: string | undefined,
): CheckpointConflictError {
  return new CheckpointConflictError({
    threadId,
    checkpointNs: "",
    parentCheckpointId: parent,
    latestCheckpointId: latest,
  });
}

function putIfLatestOf(saver: BaseCheckpointSaver): PutIfLatest | undefined {
  const method = (saver as { putIfLatest?: PutIfLatest }).putIfLatest;
  return typeof method === "function" ? method.bind(saver) : undefined;
}
