import {
  InvalidConfigurationError,
  isRetryExhaustedError,
  type Ledger,
  RetryPolicy,
} from "@durable-tools/core";
import { getConfig } from "@langchain/langgraph";
import { isBranch } from "./checkpoint-lineage.js";
import { DURABLE_LEDGER_KEY, ledgerOfCheckpointer, lineageOfCheckpointer } from "./durable-checkpointer.js";
import { DURABLE_STEP_TOOL, type DurableStepIdentity, durableStepKey } from "./journal-keys.js";
import { type OriginLookup, stableNamespace } from "./stable-namespace.js";

export interface DurableStepOptions {
  /** The ledger to journal into; default: `configurable.durable_ledger`, else the DurableCheckpointer's. */
  ledger?: Ledger;
}

/** Same-name call counts per task run (its scratchpad), keyed by `<attempt>:<name>`. */
const occurrences = new WeakMap<object, Map<string, number>>();

/**
 * Runs `fn` once per task step: inside a LangGraph node, the result is journaled under
 * (thread_id, checkpoint_ns, task id, name, occurrence). When LangGraph runs the same task again (a
 * resume after `interrupt()`, `invoke(null)` after a node error), a completed step returns its recorded
 * result and `fn` does not run. A fork from an older checkpoint has new task ids and runs its steps anew.
 */
export async function durableStep<T>(
  name: string,
  fn: () => T | Promise<T>,
  options: DurableStepOptions = {},
): Promise<T> {
  if (typeof name !== "string" || name.length === 0) {
    throw new InvalidConfigurationError("durableStep(name, fn) needs a non-empty step name.");
  }
  if (typeof fn !== "function") {
    throw new InvalidConfigurationError(`durableStep("${name}", fn) needs fn to be a function.`);
  }
  const config = getConfig();
  const configurable = (config?.configurable ?? {}) as Record<string, unknown>;
  const threadId = configurable.thread_id;
  const taskId = configurable.__pregel_task_id;
  const scratchpad = configurable.__pregel_scratchpad;
  if (
    threadId === undefined ||
    threadId === null ||
    typeof taskId !== "string" ||
    typeof scratchpad !== "object" ||
    scratchpad === null
  ) {
    throw new InvalidConfigurationError(
      `durableStep("${name}") was called outside a LangGraph node run with a thread: it needs the running task's id and a configurable.thread_id. Call it inside a node of a graph compiled with a checkpointer and invoked with { configurable: { thread_id } }.`,
    );
  }
  const ledger =
    options.ledger ??
    asLedger(configurable[DURABLE_LEDGER_KEY]) ??
    ledgerOfCheckpointer(configurable.__pregel_checkpointer);
  if (ledger === undefined) {
    throw new InvalidConfigurationError(
      `durableStep("${name}") found no ledger: compile the graph with a DurableCheckpointer({ saver, ledger }), pass { configurable: { ${DURABLE_LEDGER_KEY}: ledger } }, or pass durableStep(name, fn, { ledger }).`,
    );
  }
  const taskNs = typeof configurable.checkpoint_ns === "string" ? configurable.checkpoint_ns : "";
  const occurrence = nextOccurrence(scratchpad, attemptOf(config), name);
  const identity: DurableStepIdentity = {
    threadId: String(threadId),
    ...(await taskIdentity(config, String(threadId), taskNs, taskId)),
    name,
    occurrence,
  };
  const key = durableStepKey(identity);
  try {
    const { result } = await ledger.execute({
      tool: DURABLE_STEP_TOOL,
      key,
      scope: identity.threadId,
      args: identity,
      retry: STEP_FAILURES_ARE_NOT_JOURNALED,
      submit: () => fn(),
    });
    return result as T;
  } catch (error) {
    // The step did not complete: its key was released, so the node's next run (a LangGraph retry,
    // `invoke(null)` after the error) runs it again. With one attempt allowed, the ledger reports
    // fn's error as the cause of RetryExhaustedError: the node sees fn's own error.
    if (isRetryExhaustedError(error) && error.attempts === 1) throw error.cause;
    throw error;
  }
}

/**
 * A step that throws is not recorded: it did not complete, and retrying it is the node's business
 * (LangGraph's retryPolicy, or a re-invoke). So the ledger tries it once and frees its key.
 */
const STEP_FAILURES_ARE_NOT_JOURNALED = new RetryPolicy({
  maxAttempts: 1,
  classify: () => ({ retryable: true, outcome: "not_applied", reason: "a durableStep that threw" }),
});

/** How long a step waits for LangGraph to hand its task's checkpoint to the DurableCheckpointer. */
const LINEAGE_WAIT_MS = 10_000;

/**
 * The task a step runs in, named by what a crash under durability "async" cannot change: the
 * checkpoint the task's checkpoint was built on, the step and the task's path. LangGraph's task id
 * is derived from the task's own checkpoint, which "async" writes in the background: a process killed
 * before it landed resumes from the parent and schedules the same task under a new id. Without a
 * DurableCheckpointer to ask, or under "exit" (whose checkpoints are written only at the end), the
 * task id.
 */
async function taskIdentity(
  config: ReturnType<typeof getConfig>,
  threadId: string,
  taskNs: string,
  taskId: string,
): Promise<Pick<DurableStepIdentity, "checkpointNs" | "task">> {
  const configurable = (config?.configurable ?? {}) as Record<string, unknown>;
  const checkpointMap = (configurable.checkpoint_map ?? {}) as Record<string, unknown>;
  // A node runs in its own namespace (`...|<node>:<task id>`); its task belongs to the checkpoint of
  // the namespace above. A functional-API task called from an entrypoint (or a node) sits one level
  // deeper, in a namespace that maps to the same checkpoint as its caller's: climb to where that
  // checkpoint was written.
  let checkpointNs = parentNamespace(taskNs);
  const checkpointId = checkpointMap[checkpointNs];
  while (checkpointNs !== "" && checkpointMap[parentNamespace(checkpointNs)] === checkpointId) {
    checkpointNs = parentNamespace(checkpointNs);
  }
  const metadata = (config?.metadata ?? {}) as Record<string, unknown>;
  const lineage = lineageOfCheckpointer(configurable.__pregel_checkpointer);
  const durability = (config as { durability?: unknown } | undefined)?.durability;
  if (
    lineage === undefined ||
    durability === "exit" ||
    typeof checkpointId !== "string" ||
    typeof metadata.langgraph_step !== "number" ||
    !Array.isArray(metadata.langgraph_path)
  ) {
    return { checkpointNs: taskNs, task: `id:${taskId}` };
  }
  // Under "sync" LangGraph has handed the checkpoint over before its tasks run: one we have not seen
  // is not in that namespace, and "sync" has no crash gap to close, so the task id will do. Under
  // "async" the hand-over may still be on its way.
  const lookup: OriginLookup = async (ns, id) =>
    durability === "sync"
      ? lineage.peek(threadId, ns, id)
      : lineage.originOf(threadId, ns, id, LINEAGE_WAIT_MS);
  const origin = await lookup(checkpointNs, checkpointId);
  if (origin === undefined) return { checkpointNs: taskNs, task: `id:${taskId}` };
  const path = JSON.stringify(metadata.langgraph_path);
  if (checkpointNs !== "" && !isBranch(origin)) {
    // Inside a subgraph: the namespace itself carries task ids that a crash can change. Renamed
    // stably, the step number and path place the task (the subgraph's run is the namespace's only).
    const stable = await stableNamespace(checkpointNs, checkpointMap, lookup);
    if (stable !== undefined) {
      return { checkpointNs: stable, task: `step:${metadata.langgraph_step}|path:${path}` };
    }
  }
  // Only a "loop" checkpoint is re-created the same way after a crash. A fork or an update branches
  // from its parent on purpose (its tasks must run anew), and is named by its own id.
  if (origin.source !== "loop") return { checkpointNs, task: `at:${checkpointId}|path:${path}` };
  return {
    checkpointNs,
    task: `after:${origin.parentId ?? "-"}|step:${metadata.langgraph_step}|path:${path}`,
  };
}

function parentNamespace(ns: string): string {
  return ns.slice(0, Math.max(0, ns.lastIndexOf("|")));
}

function asLedger(value: unknown): Ledger | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  return typeof (value as { execute?: unknown }).execute === "function" ? (value as Ledger) : undefined;
}

/**
 * LangGraph builds a fresh scratchpad each time it prepares a task (so a resumed or re-invoked task
 * counts from 0), but reuses it across retry attempts; the attempt number tells those apart.
 */
function attemptOf(config: ReturnType<typeof getConfig>): string {
  const info = (config as { executionInfo?: { nodeAttempt?: number } } | undefined)?.executionInfo;
  return String(info?.nodeAttempt ?? 1);
}

function nextOccurrence(scratchpad: object, attempt: string, name: string): number {
  let counts = occurrences.get(scratchpad);
  if (counts === undefined) {
    counts = new Map();
    occurrences.set(scratchpad, counts);
  }
  const slot = `${attempt}:${name}`;
  const occurrence = counts.get(slot) ?? 0;
  counts.set(slot, occurrence + 1);
  return occurrence;
}
