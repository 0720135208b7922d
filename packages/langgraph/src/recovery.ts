import {
  type Ledger,
  type OperationContext,
  type OperationRecord,
  type ReconcileHook,
  type RecoveredOperation,
  reconcileOperation,
  TOOL_SCOPE_PREFIX,
} from "@durable-tools/core";

/** A tool's own reconcile hook, whatever its argument type (recovery passes the arguments it stored). */
type ToolReconcile = (args: never, ctx: OperationContext) => ReturnType<ReconcileHook>;

export interface RecoverThreadsOptions {
  ledger: Ledger;
  /** Tools whose in-doubt operations recovery may settle: `durableTool`s, or anything with a name and a reconcile hook. */
  tools?: Iterable<{ name: string; reconcile?: ToolReconcile | undefined }>;
  /** More reconcile hooks, by tool name. */
  reconcilers?: Record<string, ReconcileHook>;
  /**
   * Resumes a thread once none of its operations is left in doubt or held by a live worker, e.g.
   * `(threadId) => graph.invoke(null, { configurable: { thread_id: threadId } })`.
   */
  resume?: (threadId: string) => Promise<unknown>;
  /** At most this many operations looked at (oldest first). */
  limit?: number;
}

export interface ThreadRecovery {
  threadId: string;
  operations: RecoveredOperation[];
  /** Set when `resume` was called for the thread. */
  resumed?: { ok: true } | { ok: false; error: unknown };
}

export interface RecoveryReport {
  threads: ThreadRecovery[];
  /**
   * Operations that belong to no thread: called outside a graph, with no scope or with a durableTool's
   * own `scope` option (stored as `tool-scope:<scope>`).
   */
  unscoped: RecoveredOperation[];
}

/**
 * For a worker starting up: finds every operation nobody is working on any more (SUBMITTED ones in
 * doubt, and PENDING / VALIDATED ones abandoned before submitting), settles what it can (abandoned
 * ones are released; in-doubt ones are asked through their tool's `reconcile` hook), groups them by
 * LangGraph thread, and resumes each thread with nothing left unsettled. What stays in doubt (no
 * hook, or the hook could not tell) is reported, and its thread is not resumed: resuming it would
 * meet `OperationInDoubtError`, and the operation needs a person (`ledger.resolve`).
 */
export async function recoverThreads(options: RecoverThreadsOptions): Promise<RecoveryReport> {
  const { ledger } = options;
  const hooks = new Map<string, ReconcileHook>(Object.entries(options.reconcilers ?? {}));
  for (const tool of options.tools ?? []) {
    const reconcile = tool.reconcile;
    if (reconcile) hooks.set(tool.name, (args, ctx) => reconcile.call(tool, args as never, ctx));
  }
  const records = await ledger.listInDoubt({
    includeUnfinished: true,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  });
  const threads = new Map<string, RecoveredOperation[]>();
  const unscoped: RecoveredOperation[] = [];
  for (const record of records) {
    const recovered = await reconcileOperation(ledger, record.key, hooks.get(record.tool));
    const threadId = threadOfRecord(record);
    if (threadId === undefined) {
      unscoped.push(recovered);
      continue;
    }
    const ofThread = threads.get(threadId);
    if (ofThread === undefined) threads.set(threadId, [recovered]);
    else ofThread.push(recovered);
  }
  const report: RecoveryReport = { threads: [], unscoped };
  for (const [threadId, operations] of threads) {
    const thread: ThreadRecovery = { threadId, operations };
    const blocked = operations.some((op) => op.outcome === "in_doubt" || op.outcome === "busy");
    if (options.resume && !blocked) {
      try {
        await options.resume(threadId);
        thread.resumed = { ok: true };
      } catch (error) {
        thread.resumed = { ok: false, error };
      }
    }
    report.threads.push(thread);
  }
  return report;
}

/**
 * The thread an operation ran in: a `durableTool` called in a graph, a `durableStep` and a thread
 * lease store the thread id as the record's scope; a `durableTool` outside any graph stores its own
 * scope behind TOOL_SCOPE_PREFIX, which is no thread.
 */
function threadOfRecord(record: OperationRecord): string | undefined {
  const scope = record.scope;
  return scope === undefined || scope.startsWith(TOOL_SCOPE_PREFIX) ? undefined : scope;
}
