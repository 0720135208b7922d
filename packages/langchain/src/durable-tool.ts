import {
  type Effect,
  type EffectResult,
  type ExecutionResult,
  InvalidConfigurationError,
  inDoubt,
  isControlFlowSignal,
  isEffectResult,
  type Ledger,
  type OperationContext,
  type OperationRecord,
  type OperationSpec,
  OperationState,
  type Reconciliation,
  TOOL_SCOPE_PREFIX,
} from "@durable-tools/core";
import type { CallbackManagerForToolRun } from "@langchain/core/callbacks/manager";
import { isDirectToolOutput, ToolMessage } from "@langchain/core/messages";
import {
  StructuredTool,
  type StructuredToolInterface,
  ToolInputParsingException,
  type ToolRunnableConfig,
} from "@langchain/core/tools";
import { Validator } from "@langchain/core/utils/json_schema";
import { interopParseAsync, isInteropZodError, isInteropZodSchema } from "@langchain/core/utils/types";
import { z as z4 } from "zod/v4";
import { approvalRequired, consumeApproval, liveApprovals } from "./approval.js";
import { type EffectEnvelope, envelopeContent, errorEnvelope, successEnvelope } from "./envelope.js";
import { UnsupportedToolOutputError } from "./errors.js";
import { scopedModelKey } from "./model-key.js";
import { rawInputOf, withRawInput } from "./raw-input.js";
import {
  type Approval,
  approve,
  type DurableRunOptions,
  durableRunOptions,
  threadIdOf,
} from "./run-config.js";
import {
  hasIdempotencyKeyArg,
  IDEMPOTENCY_KEY_ARG,
  splitIdempotencyKey,
  withIdempotencyKeyArg,
} from "./schema.js";

export type SideEffect = "read" | "write" | "destructive";

/** What a dry run reports: the effect it would have and the changes it would make. */
export interface Plan {
  effect: "would_create" | "would_update" | "would_delete" | "noop";
  changes: unknown[];
  reason?: string;
}

/** Options shared by wrapped tools and tools built from a definition. */
export interface DurableToolOptions<A, R> {
  ledger?: Ledger;
  /** `read` passes straight through; `write` goes through the ledger; `destructive` also needs an approval. */
  sideEffect: SideEffect;
  /** A business key derived from the arguments (an invoice number); takes precedence over the argument hash. */
  businessKey?: (args: A) => string | undefined;
  /**
   * Scope of argument-derived keys outside a LangGraph thread. Default: tool-wide. Stored on the
   * record as `tool-scope:<scope>` (recovery reports it as unscoped, not as a thread).
   */
  scope?: string;
  tenant?: string;
  /** The effect a successful call has (default `created`); `withEffect()` from submit overrides it. */
  effect?: Effect | ((result: R) => Effect);
  reconcile?: (args: A, ctx: OperationContext) => Reconciliation<R> | Promise<Reconciliation<R>>;
  /** The downstream deduplicates on `ctx.idempotencyKey`: an in-doubt call may be submitted again. */
  dedupesDownstream?: boolean;
  /** What a dry run reports. Default: the declared effect as `would_*`, with the arguments as the change. */
  plan?: (args: A) => Plan | Promise<Plan>;
  /** Every call of this tool is a dry run. */
  dryRun?: boolean;
  /** Offer the model an optional `idempotency_key` argument. Default true. */
  modelKey?: boolean;
  /** `envelope` (default) returns failures to the model as `{ ok: false, error }`; `throw` rethrows them. */
  onError?: "envelope" | "throw";
}

/** A tool built from hooks: `submit` is the side effect; the rest are optional. */
export interface DurableToolDefinition<A, R> extends DurableToolOptions<A, R> {
  name: string;
  description: string;
  /** A zod object schema (v3 or v4) or a JSON schema of type object. */
  schema: unknown;
  validate?: (args: A, ctx: OperationContext) => void | Promise<void>;
  submit: (args: A, ctx: OperationContext) => R | EffectResult<R> | Promise<R | EffectResult<R>>;
  confirm?: (result: R, ctx: OperationContext) => R | Promise<R>;
}

const WOULD: Record<string, Plan["effect"]> = {
  created: "would_create",
  updated: "would_update",
  deleted: "would_delete",
};

/** What `durableTool()` returns: a LangChain tool, with its reconcile hook when it has one (for recovery). */
export type DurableStructuredTool<A = Record<string, unknown>, R = unknown> = StructuredTool & {
  readonly reconcile?: DurableToolOptions<A, R>["reconcile"];
};

/**
 * A LangChain tool whose side effect runs at most once per key under a ledger. Its ToolMessage
 * content is the effect envelope (JSON); its artifact is the operation record.
 */
export class DurableTool<A = Record<string, unknown>, R = unknown> extends StructuredTool {
  static override lc_name(): string {
    return "DurableTool";
  }

  override name: string;
  override description: string;
  // biome-ignore lint/suspicious/noExplicitAny: StructuredTool's schema type is an interop union.
  override schema: any;
  override responseFormat = "content_and_artifact";
  readonly sideEffect: SideEffect;
  readonly #definition: DurableToolDefinition<A, R>;
  readonly #inner: StructuredToolInterface | undefined;

  constructor(definition: DurableToolDefinition<A, R>, inner?: StructuredToolInterface) {
    super();
    this.#inner = inner;
    if (definition.sideEffect !== "read" && definition.ledger === undefined) {
      throw new InvalidConfigurationError(
        `durableTool "${definition.name}" has sideEffect "${definition.sideEffect}" and needs a ledger: pass { ledger: new Ledger({ store }) }.`,
      );
    }
    if (definition.modelKey !== false && hasIdempotencyKeyArg(definition.schema)) {
      throw new InvalidConfigurationError(
        `durableTool "${definition.name}": its schema already has an "${IDEMPOTENCY_KEY_ARG}" argument, which the model key option (modelKey, on by default) would take as the model's key and strip before the tool sees it. Pass { modelKey: false } to keep it as the tool's own argument, or rename the field.`,
      );
    }
    this.name = definition.name;
    this.description = definition.description;
    this.sideEffect = definition.sideEffect;
    this.schema =
      definition.modelKey === false ? definition.schema : withIdempotencyKeyArg(definition.schema);
    this.#definition = definition;
  }

  /** The tool's reconcile hook, if it has one (what `recoverThreads` asks about operations in doubt). */
  get reconcile(): DurableToolOptions<A, R>["reconcile"] {
    return this.#definition.reconcile;
  }

  /**
   * Approves one operation of this tool with these arguments, as the model passed them (a tool call's
   * `args`, or the tool call itself): they are parsed through the tool's schema (defaults filled in,
   * transforms applied) and the model's `idempotency_key` is split off, exactly as a call does before
   * it checks its approval. `approve(name, args, by)` is the same for arguments already in that form.
   *
   * @throws ToolInputParsingException when the arguments do not match the tool's schema.
   */
  async approve(
    argsOrToolCall: unknown,
    approvedBy: string,
    options: { expiresAt?: number } = {},
  ): Promise<Approval> {
    const toolCall = isToolCall(argsOrToolCall) || this.#isOwnToolCall(argsOrToolCall);
    const input = toolCall ? (argsOrToolCall as { args: unknown }).args : argsOrToolCall;
    const { args } = this.#splitKey(await this.#parse(input));
    return approve(this.name, args, approvedBy, options.expiresAt);
  }

  /**
   * A tool call to this tool as an `AIMessage`'s `tool_calls` may hold it, without `type`: its name,
   * its id and its arguments (and nothing else), never arguments that happen to have those fields.
   */
  #isOwnToolCall(value: unknown): boolean {
    if (typeof value !== "object" || value === null) return false;
    const { name, id, args, ...rest } = value as Record<string, unknown>;
    return (
      name === this.name &&
      (id === undefined || typeof id === "string") &&
      typeof args === "object" &&
      args !== null &&
      Object.keys(rest).length === 0
    );
  }

  /** The input as `StructuredTool.call` parses it before `_call`: same schema, same checks, same error. */
  async #parse(input: unknown): Promise<unknown> {
    let message = "Received tool input did not match expected schema";
    if (isInteropZodSchema(this.schema)) {
      try {
        return await interopParseAsync(this.schema, input);
      } catch (error) {
        if (this.verboseParsingErrors) message = `${message}\nDetails: ${(error as Error).message}`;
        if (isInteropZodError(error)) message = `${message}\n\n${z4.prettifyError(error as z4.ZodError)}`;
        throw new ToolInputParsingException(message, JSON.stringify(input));
      }
    }
    const result = new Validator(this.schema).validate(input);
    if (result.valid) return input;
    if (this.verboseParsingErrors) {
      message = `${message}\nDetails: ${result.errors.map((e) => `${e.keywordLocation}: ${e.error}`).join("\n")}`;
    }
    throw new ToolInputParsingException(message, JSON.stringify(input));
  }

  /** The model's `idempotency_key` split from the arguments (none when `modelKey` is off). */
  #splitKey(input: unknown): { args: A; key: string | undefined } {
    if (this.#definition.modelKey === false) return { args: input as A, key: undefined };
    return splitIdempotencyKey(input as A);
  }

  /** Keeps the input as it arrived (before the schema parsed it) for a wrapped tool: see `raw-input.ts`. */
  // biome-ignore lint/suspicious/noExplicitAny: StructuredTool.call's generic overloads.
  override call(arg: any, configArg?: any, tags?: string[]): Promise<any> {
    if (this.#inner === undefined) return super.call(arg, configArg, tags);
    const raw = isToolCall(arg) ? arg.args : arg;
    return super.call(arg, withRawInput(configArg, raw), tags);
  }

  protected override async _call(
    input: unknown,
    runManager?: CallbackManagerForToolRun,
    config?: ToolRunnableConfig,
  ): Promise<[string, OperationRecord | undefined]> {
    const definition = this.#definition;
    const run = durableRunOptions(config);
    const { args, key } = this.#splitKey(input);
    const ledger = definition.ledger as Ledger;
    let spec: OperationSpec<A, R> | undefined;
    // A destructive call's argument fingerprint: its approval's check, and its key if it fails.
    let argsFingerprint: string | undefined;
    let result: ExecutionResult<R>;
    try {
      spec = this.#spec(args, key, run, config, runManager);
      if (run.dryRun === true || definition.dryRun === true) {
        return [envelopeContent(await this.#dryRun(args, ledger.keyFor(spec).key)), undefined];
      }
      if (this.sideEffect === "destructive") {
        argsFingerprint = ledger.fingerprintOf(args);
        spec.authorize = await this.#authorization(ledger, spec, argsFingerprint, run.approvals);
      }
      result = await ledger.execute(spec);
    } catch (error) {
      // interrupt() or a Command for the parent graph: LangGraph's control flow, never an envelope.
      if (definition.onError === "throw" || isControlFlowSignal(error)) throw error;
      const refused = refusedByApproval.get(error as object);
      // An error from consuming the approval may name the approval's own record: not this operation.
      const record = refused === undefined ? (error as { record?: OperationRecord }).record : undefined;
      const key = refused ?? keyOfFailedCall(error, ledger, spec, argsFingerprint);
      return [envelopeContent(errorEnvelope(error, key)), record];
    }
    // Outside the try: once the effect is recorded, nothing here may turn it into an error envelope,
    // except an output the tool may not return (its error says the effect happened).
    const unsupported = unsupportedOutputOf(result.result);
    if (unsupported !== undefined) {
      const error = new UnsupportedToolOutputError(this.name, result.key, unsupported);
      if (definition.onError === "throw") throw error;
      return [envelopeContent(errorEnvelope(error)), result.record];
    }
    return [envelopeContent(successEnvelope(result, config?.toolCall?.id)), result.record];
  }

  #spec(
    args: A,
    key: string | undefined,
    run: DurableRunOptions,
    config: ToolRunnableConfig | undefined,
    runManager: CallbackManagerForToolRun | undefined,
  ): OperationSpec<A, R> {
    const d = this.#definition;
    const inner = this.#inner;
    // A wrapped tool runs as a child run (traced under this one) with the rest of this call's config
    // (LangGraph's state, toolCallId, store, context...), but without the tool call, so it returns
    // its plain output rather than a ToolMessage; the run name belonged to this run. It gets the
    // input as it arrived (its own schema parses it: transforms run once), else the parsed arguments.
    const stashed = inner ? rawInputOf(config) : undefined;
    const innerInput = stashed === undefined ? undefined : this.#splitKey(stashed.raw).args;
    const { toolCall: _toolCall, runName: _runName, runId: _runId, ...passed } = config ?? {};
    const submit: OperationSpec<A, R>["submit"] = inner
      ? async (parsedArgs, ctx) => {
          try {
            const input = stashed === undefined ? parsedArgs : innerInput;
            return await inner.invoke(input, {
              ...passed,
              callbacks: runManager?.getChild(),
              signal: ctx.signal,
            });
          } catch (error) {
            // tool() rejects as soon as the signal aborts, while its function may still be running:
            // the side effect may happen, so the operation is in doubt, never a failure.
            if (ctx.signal.aborted && !isControlFlowSignal(error)) throw inDoubt(error);
            throw error;
          }
        }
      : d.submit;
    const spec: OperationSpec<A, R> = { tool: this.name, args, submit: recordingUnsupported(submit) };
    const tenant = run.tenant ?? d.tenant;
    if (tenant !== undefined) spec.tenant = tenant;
    // Outside a thread, the tool's own scope behind core's TOOL_SCOPE_PREFIX: never taken for a thread
    // id by recovery, never sharing argument-derived keys with a thread of the same name.
    const scope =
      threadIdOf(config) ?? (d.scope === undefined ? undefined : `${TOOL_SCOPE_PREFIX}${d.scope}`);
    if (scope !== undefined) spec.scope = scope;
    // A key in a model's tool call is scoped like an argument hash; one the caller passes is global.
    if (key !== undefined) spec.key = config?.toolCall ? scopedModelKey(key, scope) : key;
    else {
      const businessKey = d.businessKey?.(args);
      if (businessKey !== undefined) spec.businessKey = businessKey;
    }
    const correlationId = config?.toolCall?.id;
    if (correlationId) spec.correlationId = correlationId;
    if (config?.signal) spec.signal = config.signal;
    if (d.validate) spec.validate = d.validate;
    if (d.confirm) spec.confirm = d.confirm;
    if (d.reconcile) spec.reconcile = d.reconcile;
    if (d.dedupesDownstream) spec.dedupesDownstream = true;
    if (d.effect !== undefined) spec.effect = d.effect;
    return spec;
  }

  /**
   * A destructive call needs a live approval for its exact arguments (fingerprint `wanted`), checked
   * before anything is written. Returns the operation's authorize hook, which consumes it, i.e. only in
   * the call about to make the first submission (never a replay, a conflict or a duplicate waiting
   * for another call). Without one, only a replay of the finished operation may go on (the approval
   * guarded its first submission): the record is read (no write), and the hook refuses should the
   * call still come to submit (the record expired meanwhile).
   */
  async #authorization(
    ledger: Ledger,
    spec: OperationSpec<A, R>,
    wanted: string,
    approvals: readonly Approval[] | undefined,
  ): Promise<NonNullable<OperationSpec<A, R>["authorize"]>> {
    if (liveApprovals(ledger, this.name, wanted, approvals).length === 0) {
      const stored = await ledger.get(ledger.keyFor(spec, wanted).key);
      const finished = stored?.state === OperationState.CONFIRMED || stored?.state === OperationState.FAILED;
      if (!finished || stored?.fingerprint !== wanted) throw approvalRequired(this.name, wanted);
      return () => {
        throw approvalRequired(this.name, wanted);
      };
    }
    return async (_args, ctx) => {
      try {
        await consumeApproval(ledger, this.name, wanted, ctx.key, approvals);
      } catch (error) {
        if (typeof error === "object" && error !== null) refusedByApproval.set(error, ctx.key);
        throw error;
      }
    };
  }

  async #dryRun(args: A, key: string): Promise<EffectEnvelope> {
    const d = this.#definition;
    const declared = typeof d.effect === "string" ? d.effect : "created";
    const plan: Plan = d.plan
      ? await d.plan(args)
      : { effect: WOULD[declared] ?? "would_create", changes: [{ tool: this.name, args }] };
    return {
      ok: true,
      effect: plan.effect,
      replayed: false,
      key,
      data: { changes: plan.changes },
      reason: plan.reason ?? "dry run: nothing was executed or recorded",
    };
  }
}

/**
 * Errors thrown while a call consumed its approval, with the key of the operation they refused. The
 * ledger rethrows them unchanged, and some (e.g. OperationInProgressError from the approval's own
 * record) carry that record's key: the envelope must name the tool's operation instead.
 */
const refusedByApproval = new WeakMap<object, string>();

/**
 * Stored in place of a `Command` or `ToolMessage` a tool returned (see `UnsupportedToolOutputError`):
 * its side effect is recorded as confirmed, and every call of the key reports the refusal.
 */
const UNSUPPORTED_OUTPUT = "durable_tools.unsupported_output";

function recordingUnsupported<A, R>(submit: OperationSpec<A, R>["submit"]): OperationSpec<A, R>["submit"] {
  return async (args, ctx) => {
    const output = await submit(args, ctx);
    if (!isDirectToolOutput(output)) return output;
    const kind = ToolMessage.isInstance(output) ? "ToolMessage" : "Command";
    return { [UNSUPPORTED_OUTPUT]: kind } as R;
  };
}

function unsupportedOutputOf(result: unknown): string | undefined {
  const kind = (result as Record<string, unknown> | null)?.[UNSUPPORTED_OUTPUT];
  return typeof kind === "string" ? kind : undefined;
}

function isToolCall(arg: unknown): arg is { args: unknown } {
  return typeof arg === "object" && arg !== null && (arg as { type?: unknown }).type === "tool_call";
}

/**
 * The key an error envelope names: the error's own, else the call's when its input allows one (from
 * `argsFingerprint` when the call worked it out already).
 */
function keyOfFailedCall<A, R>(
  error: unknown,
  ledger: Ledger,
  spec: OperationSpec<A, R> | undefined,
  argsFingerprint: string | undefined,
): string | undefined {
  const own = (error as { key?: unknown } | null)?.key;
  if (typeof own === "string") return own;
  if (spec === undefined) return undefined;
  try {
    return ledger.keyFor(spec, argsFingerprint).key;
  } catch {
    return undefined; // the input itself was invalid (bad key or payload): there is no key to name
  }
}

/** A read tool: no ledger, the function runs on every call. */
class ReadTool<A, R> extends StructuredTool {
  override name: string;
  override description: string;
  // biome-ignore lint/suspicious/noExplicitAny: StructuredTool's schema type is an interop union.
  override schema: any;
  readonly sideEffect = "read" as const;
  readonly #definition: DurableToolDefinition<A, R>;

  constructor(definition: DurableToolDefinition<A, R>) {
    super();
    this.name = definition.name;
    this.description = definition.description;
    this.schema = definition.schema;
    this.#definition = definition;
  }

  protected override async _call(
    input: unknown,
    _run?: CallbackManagerForToolRun,
    config?: ToolRunnableConfig,
  ) {
    const controller = new AbortController();
    const context: OperationContext = {
      key: "",
      idempotencyKey: "",
      attempt: 1,
      signal: config?.signal ?? controller.signal,
      correlationId: config?.toolCall?.id ?? "",
      record: undefined as unknown as OperationRecord,
    };
    const outcome = await this.#definition.submit(input as A, context);
    return isEffectResult<R>(outcome) ? outcome.data : outcome;
  }
}

/**
 * Makes a tool durable. Pass a definition with hooks, or an existing LangChain tool and options:
 *
 * ```ts
 * const createInvoice = durableTool({ name, description, schema, sideEffect: "write", ledger, submit, reconcile });
 * const charge = durableTool(existingChargeTool, { sideEffect: "write", ledger });
 * ```
 */
export function durableTool<A = Record<string, unknown>, R = unknown>(
  definition: DurableToolDefinition<A, R> & { sideEffect: "write" | "destructive" },
): DurableTool<A, R>;
export function durableTool<A = Record<string, unknown>, R = unknown>(
  definition: DurableToolDefinition<A, R>,
): DurableStructuredTool<A, R>;
export function durableTool<A = Record<string, unknown>, R = unknown>(
  tool: StructuredToolInterface,
  options: DurableToolOptions<A, R> & { sideEffect: "write" | "destructive" },
): DurableTool<A, R>;
export function durableTool<A = Record<string, unknown>, R = unknown>(
  tool: StructuredToolInterface,
  options: DurableToolOptions<A, R>,
): DurableStructuredTool<A, R>;
export function durableTool<A, R>(
  toolOrDefinition: DurableToolDefinition<A, R> | StructuredToolInterface,
  options?: DurableToolOptions<A, R>,
): DurableStructuredTool<A, R> {
  if (options === undefined) {
    const definition = toolOrDefinition as DurableToolDefinition<A, R>;
    return definition.sideEffect === "read" ? new ReadTool(definition) : new DurableTool(definition);
  }
  const inner = toolOrDefinition as StructuredToolInterface;
  if (options.sideEffect === "read") return inner as DurableStructuredTool<A, R>;
  // A durable tool's ToolMessage artifact is its operation record: the inner artifact has no place.
  if ((inner as { responseFormat?: unknown }).responseFormat === "content_and_artifact") {
    throw new InvalidConfigurationError(
      `durableTool "${inner.name}": the tool has responseFormat "content_and_artifact", and a durable tool's ToolMessage artifact is its operation record, so the tool's own artifact would be lost (and could not be replayed). Wrap a tool with responseFormat "content" that returns everything to keep (its output is recorded, replayed and given to the model as the envelope's data), or build the durable tool from a definition whose submit does.`,
    );
  }
  const wrapped = new DurableTool<A, R>(
    {
      ...options,
      name: inner.name,
      description: inner.description,
      schema: inner.schema,
      submit: () => {
        throw new InvalidConfigurationError("unreachable: a wrapped tool submits through the inner tool");
      },
    },
    inner,
  );
  // What LangChain and ToolNode read from the tool itself, as the inner tool declared it.
  const from = inner as Partial<
    Pick<StructuredTool, "returnDirect" | "extras" | "metadata" | "verboseParsingErrors">
  >;
  if (from.returnDirect !== undefined) wrapped.returnDirect = from.returnDirect;
  if (from.verboseParsingErrors !== undefined) wrapped.verboseParsingErrors = from.verboseParsingErrors;
  if (from.extras !== undefined) wrapped.extras = from.extras;
  if (from.metadata !== undefined) wrapped.metadata = from.metadata;
  return wrapped;
}
