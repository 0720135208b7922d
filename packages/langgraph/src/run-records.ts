import type { RunnableConfig } from "@langchain/core/runnables";
import { namespaceOf, threadOf } from "./config-fields.js";

/*
 * What the DurableCheckpointer learns of each LangGraph run from the loads the run makes. A run is
 * one `invoke` / `stream` call, known by its `config.control` (LangGraph 1.7 creates one per call and
 * hands it, like all of the run's top-level config, to every checkpointer call of the run, nested
 * subgraphs included, and to every task's config). Held weakly: it goes with the run.
 *
 * Every Pregel loop that has a checkpointer loads its namespace's checkpoint (`getTuple`, or `list`
 * on the first visit of a subgraph during time travel) before it runs a task; a subgraph compiled
 * with `checkpointer: false` never does. So, per run and thread, it keeps:
 * - where the run started: the first root checkpoint it loaded (by id or the latest);
 * - which namespaces were loaded: a loop whose namespace was never loaded stores no checkpoints;
 * - for each subgraph, the task that invoked it: LangGraph hands the invoking task's metadata (step,
 *   node, triggers, path) down with the subgraph's config, so the load carries it;
 * - for each task that invoked subgraphs, the attempt (LangGraph's `executionInfo.nodeAttempt`, also
 *   handed down) of each value of its subgraph counter: see `subgraphOrdinal`.
 */

/** Where a run started on a thread. */
export interface RunStart {
  /** The root checkpoint the run loaded first (undefined while that load is under way, or none). */
  checkpointId: string | undefined;
  /** The run was given the checkpoint's id and the thread had moved past it: the run branches. */
  superseded: boolean;
}

/** The task that invoked a subgraph, as LangGraph described it in the task's metadata. */
export interface Invocation {
  node: string;
  step: number;
  triggers: readonly unknown[];
  path: readonly unknown[];
}

/** Namespaces and invocations kept per run; past it, what was not kept is "not known". */
export const MAX_PER_RUN = 10_000;

interface RunRecord {
  starts: Map<string, RunStart>;
  loaded: Set<string>;
  invocations: Map<string, Invocation>;
  /** Per invoking task: its subgraph counter values seen, each with the attempt that used it. */
  counters: Map<string, Map<number, number>>;
  /** Something was not kept: a namespace not found may have been loaded. */
  full: boolean;
}

export class RunRecords {
  readonly #runs = new WeakMap<object, RunRecord>();

  /**
   * Notes a load (`getTuple` / `list`) before it is made. For the first root-namespace load of a run
   * on a thread, returns the start to settle once the checkpoint is read (`addressed`: the run was
   * given a `checkpoint_id`); otherwise undefined.
   */
  loading(config: RunnableConfig): { start: RunStart; addressed: boolean } | undefined {
    const run = runOf(config);
    const threadId = threadOf(config);
    if (run === undefined || threadId === undefined) return undefined;
    let record = this.#runs.get(run);
    if (record === undefined) {
      record = {
        starts: new Map(),
        loaded: new Set(),
        invocations: new Map(),
        counters: new Map(),
        full: false,
      };
      this.#runs.set(run, record);
    }
    const ns = namespaceOf(config);
    if (ns !== "") {
      this.#noteSubgraph(record, threadId, ns, config);
      return undefined;
    }
    if (record.starts.has(threadId)) return undefined;
    const checkpointId = config.configurable?.checkpoint_id;
    const addressed = typeof checkpointId === "string" && checkpointId !== "";
    // Taken now: later loads of the run (LangGraph's own latest-checkpoint check) are not its start.
    const start: RunStart = { checkpointId: addressed ? checkpointId : undefined, superseded: false };
    record.starts.set(threadId, start);
    return { start, addressed };
  }

  /** Where `run` started on the thread, once its first root load returned a checkpoint. */
  startedFrom(run: unknown, threadId: string): RunStart | undefined {
    if (typeof run !== "object" || run === null) return undefined;
    const start = this.#runs.get(run)?.starts.get(threadId);
    return start?.checkpointId === undefined ? undefined : start;
  }

  /**
   * Whether a loop of `run` loaded the thread's namespace `ns`: false means it stores no checkpoints
   * (asked once the loop has started its tasks). Undefined when the run is not known or its record
   * is full.
   */
  loadedIn(run: unknown, threadId: string, ns: string): boolean | undefined {
    if (typeof run !== "object" || run === null) return undefined;
    const record = this.#runs.get(run);
    if (record === undefined) return undefined;
    if (record.loaded.has(slotOf(threadId, ns))) return true;
    return record.full ? undefined : false;
  }

  /** The task (namespace `taskNs`) that invoked a subgraph which loaded its checkpoint in `run`. */
  invocation(run: unknown, threadId: string, taskNs: string): Invocation | undefined {
    if (typeof run !== "object" || run === null) return undefined;
    return this.#runs.get(run)?.invocations.get(slotOf(threadId, taskNs));
  }

  /**
   * Where, among the subgraphs the task `taskNs` invoked in one attempt, is the one LangGraph
   * numbered `counter`: the counter itself in the first attempt. LangGraph 1.7 counts a task's
   * subgraphs (the `|<counter>` namespace level) across the retries of its node without starting
   * again at 0, so the first subgraph of a retry would look new. Undefined where the loads do not
   * show where the attempt's count began (a subgraph that stores no checkpoints never loads: one
   * invoked between the last seen of the attempt before and the first seen of this one could not be
   * told apart).
   */
  subgraphOrdinal(run: unknown, threadId: string, taskNs: string, counter: number): number | undefined {
    if (typeof run !== "object" || run === null) return undefined;
    const seen = this.#runs.get(run)?.counters.get(slotOf(threadId, taskNs));
    const attempt = seen?.get(counter);
    if (seen === undefined || attempt === undefined) return undefined;
    if (attempt === 1) return counter;
    let first = counter;
    let before = -1;
    for (const [value, itsAttempt] of seen) {
      if (itsAttempt === attempt) first = Math.min(first, value);
      else if (itsAttempt < attempt) before = Math.max(before, value);
    }
    return first === before + 1 ? counter - first : undefined;
  }

  #noteSubgraph(record: RunRecord, threadId: string, ns: string, config: RunnableConfig): void {
    if (record.loaded.size + record.invocations.size + record.counters.size >= MAX_PER_RUN) {
      record.full = true;
      return;
    }
    record.loaded.add(slotOf(threadId, ns));
    const task = (config.metadata ?? {}) as Record<string, unknown>;
    const { langgraph_checkpoint_ns: taskNs, langgraph_node: node, langgraph_step: step } = task;
    const { langgraph_triggers: triggers, langgraph_path: path } = task;
    if (
      typeof taskNs === "string" &&
      typeof node === "string" &&
      typeof step === "number" &&
      Array.isArray(triggers) &&
      Array.isArray(path)
    ) {
      record.invocations.set(slotOf(threadId, taskNs), { node, step, triggers, path });
    }
    if (typeof taskNs === "string") this.#noteCounter(record, threadId, ns, taskNs, config);
  }

  /** The invoking task's subgraph counter in the namespace `ns` (`taskNs` or `taskNs|<counter>`). */
  #noteCounter(record: RunRecord, threadId: string, ns: string, taskNs: string, config: RunnableConfig) {
    const suffix = ns === taskNs ? "0" : ns.startsWith(`${taskNs}|`) ? ns.slice(taskNs.length + 1) : "";
    if (!/^(0|[1-9][0-9]*)$/.test(suffix)) return;
    const attempt = (config as { executionInfo?: { nodeAttempt?: unknown } }).executionInfo?.nodeAttempt;
    const slot = slotOf(threadId, taskNs);
    let seen = record.counters.get(slot);
    if (seen === undefined) {
      seen = new Map();
      record.counters.set(slot, seen);
    }
    seen.set(Number(suffix), typeof attempt === "number" && attempt >= 1 ? attempt : 1);
  }
}

/**
 * The object that stands for one LangGraph run: `config.control`. Undefined for other callers
 * (`getState`, `updateState`, direct saver calls).
 */
export function runOf(config: RunnableConfig | undefined): object | undefined {
  const control = (config as { control?: unknown } | undefined)?.control;
  return typeof control === "object" && control !== null ? control : undefined;
}

function slotOf(threadId: string, ns: string): string {
  return `${threadId}\u0000${ns}`;
}
