import { randomUUID } from "node:crypto";
import { fingerprint } from "@durable-tools/core";
import type { RunnableConfig } from "@langchain/core/runnables";

/** The `configurable` entry durable tools read: `{ configurable: { durable_tools: { dryRun: true } } }`. */
export const DURABLE_CONFIG_KEY = "durable_tools";

/**
 * An approval of one destructive operation, bound to the exact arguments by their fingerprint. It is
 * consumed by the first operation (ledger key) that runs with it, once that call holds the operation
 * (a call refused with a conflict, a replay or a waiting duplicate consumes nothing); any other
 * operation (another idempotency key, thread or tenant) gets `APPROVAL_ALREADY_USED`.
 */
export interface Approval {
  /** The approval's identity, under which the ledger records its consumption (`approve()` sets a UUID). */
  id?: string;
  tool: string;
  fingerprint: string;
  approvedBy: string;
  /** Epoch ms after which the approval no longer counts. */
  expiresAt?: number;
}

export interface DurableRunOptions {
  /** Plan every durable tool call in this run instead of executing it. */
  dryRun?: boolean;
  approvals?: readonly Approval[];
  /** Tenant of every call in this run (overrides the tool's). */
  tenant?: string;
}

export function durableRunOptions(config: RunnableConfig | undefined): DurableRunOptions {
  const value = config?.configurable?.[DURABLE_CONFIG_KEY];
  return typeof value === "object" && value !== null ? (value as DurableRunOptions) : {};
}

/** A config (merged into `base`) that makes every durable tool call a dry run. */
export function dryRunConfig<C extends RunnableConfig>(base?: C): C {
  return withDurableOptions(base, { dryRun: true });
}

/** Adds durable-tools run options to a config without dropping what is there. */
export function withDurableOptions<C extends RunnableConfig>(
  base: C | undefined,
  options: DurableRunOptions,
): C {
  const configurable = base?.configurable ?? {};
  const current = durableRunOptions(base);
  return {
    ...(base ?? {}),
    configurable: { ...configurable, [DURABLE_CONFIG_KEY]: { ...current, ...options } },
  } as unknown as C;
}

/**
 * Approves one operation of a destructive tool with exactly these arguments, as the tool sees them:
 * after its schema (defaults filled in, transforms applied), without the model's `idempotency_key`.
 * For the arguments of a model's tool call use the tool's own `approve()`
 * (`await tool.approve(toolCall.args, approvedBy)`), which normalises them that way.
 */
export function approve(tool: string, args: unknown, approvedBy: string, expiresAt?: number): Approval {
  const approval: Approval = { id: randomUUID(), tool, fingerprint: fingerprint(args), approvedBy };
  if (expiresAt !== undefined) approval.expiresAt = expiresAt;
  return approval;
}

/** The LangGraph thread a call runs in, which scopes keys derived from arguments. */
export function threadIdOf(config: RunnableConfig | undefined): string | undefined {
  const threadId = config?.configurable?.thread_id;
  return typeof threadId === "string" || typeof threadId === "number" ? String(threadId) : undefined;
}
