import {
  InvalidConfigurationError,
  isRetryExhaustedError,
  type Ledger,
  RetryPolicy,
} from "@durable-tools/core";
import { getConfig } from "@langchain/langgraph";
import { threadOf } from "./config-fields.js";
import {
  DURABLE_LEDGER_KEY,
  ledgerOfCheckpointer,
  refuseBackgroundConfirmation,
} from "./durable-checkpointer.js";
import {
  DURABLE_STEP_TOOL,
  type DurableStepIdentity,
  durableStepKey,
  stepLedgerKey,
} from "./journal-keys.js";
import { type Naming, type Place, taskIdentity } from "./task-naming.js";

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
  const threadId = config === undefined ? undefined : threadOf(config);
  const taskId = configurable.__pregel_task_id;
  const scratchpad = configurable.__pregel_scratchpad;
  if (
    threadId === undefined ||
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
  refuseBackgroundConfirmation(ledger, `durableStep("${name}")`);
  const taskNs = typeof configurable.checkpoint_ns === "string" ? configurable.checkpoint_ns : "";
  const occurrence = nextOccurrence(scratchpad, attemptOf(config), name);
  const naming = await namingOfTask(scratchpad, () => taskIdentity(config, threadId, taskNs, taskId, name));
  let identity: DurableStepIdentity = { threadId, ...naming.primary, name, occurrence };
  let key = durableStepKey(identity);
  // A task LangGraph runs again on a resume may have run its steps under the other naming (the run
  // before used another durability, or could not know the checkpoint the task is named by yet): a
  // step found recorded under that name is that step. Only tasks that may have run before have an
  // alias (those a resumed run runs in the checkpoint it started from, subgraphs included).
  if (naming.alias !== undefined) {
    const alias = await naming.alias();
    if (alias !== undefined) {
      const aliasIdentity: DurableStepIdentity = { threadId, ...alias, name, occurrence };
      const aliasKey = durableStepKey(aliasIdentity);
      if (aliasKey !== key && (await ledger.get(stepLedgerKey(ledger, aliasKey))) !== undefined) {
        identity = aliasIdentity;
        key = aliasKey;
      }
    }
  }
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

/**
 * A task's naming (and its alias, when asked for), worked out by its first step and shared by the
 * others: the name depends on the task alone, and working it out reads the lineage and maybe storage.
 * Keyed by the task run's scratchpad; a naming that failed is worked out again by the next step.
 */
const namings = new WeakMap<object, Promise<Naming>>();

function namingOfTask(scratchpad: object, work: () => Promise<Naming>): Promise<Naming> {
  const known = namings.get(scratchpad);
  if (known !== undefined) return known;
  const naming = work().then(({ primary, alias }) => {
    if (alias === undefined) return { primary };
    let place: Promise<Place | undefined> | undefined;
    const aliasOnce = () => {
      place ??= alias();
      const asked = place;
      asked.catch(() => {
        if (place === asked) place = undefined;
      });
      return asked;
    };
    return { primary, alias: aliasOnce };
  });
  namings.set(scratchpad, naming);
  naming.catch(() => {
    if (namings.get(scratchpad) === naming) namings.delete(scratchpad);
  });
  return naming;
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
