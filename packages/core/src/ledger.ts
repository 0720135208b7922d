import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { BackgroundConfirmations } from "./background-confirmations.js";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "./canonical.js";
import {
  InvalidConfigurationError,
  isDurableToolsError,
  LedgerUnavailableError,
  messageOf,
} from "./errors.js";
import { EventBus, type EventListener, type LedgerEvent, type LedgerEventInput } from "./events.js";
import { fingerprint } from "./fingerprint.js";
import { HeldOperation } from "./held-operation.js";
import { type KeySource, type KeySpec, operationKey } from "./keys.js";
import type { ExecutionResult, OperationSpec } from "./operation.js";
import { OperationRun } from "./operation-run.js";
import { positiveInteger } from "./options.js";
import type { Effect, OperationRecord } from "./record.js";
import { type RedactionOptions, Redactor } from "./redaction.js";
import { RetryPolicy, type RetryPolicyOptions } from "./retry-policy.js";
import type { LedgerStore, ReadEventsOptions } from "./store.js";
import { assertKeyPrefix } from "./store-rules.js";

export interface LedgerOptions {
  store: LedgerStore;
  /** How long an owner holds an in-flight record before another worker may take it over. Default 30 s. */
  leaseMs?: number;
  /** How long a concurrent duplicate waits for the first call's outcome. Default 10 s. */
  waitTimeoutMs?: number;
  /** Retries of failures that did not reach the downstream. Default: 3 attempts, full jitter. */
  retry?: RetryPolicy | RetryPolicyOptions;
  /** How long finished records are kept (replays answered). Default 7 days; null keeps them forever. */
  recordTtlMs?: number | null;
  /** Largest canonical argument payload accepted. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Sensitive argument / result paths, stored and reported only as keyed hashes. */
  redact?: RedactionOptions;
  /** Keep (redacted) arguments on the record for audit and reconcile. Default true. */
  storeArgs?: boolean;
  /**
   * Which events go to the store's log. State changes are always written atomically with the change;
   * `all` also writes replay, conflict, wait and retry events (one more write each). Listeners get all.
   */
  persistEvents?: "state_changes" | "all";
  /**
   * Identifies this worker in records and events. Default `host:pid:random`. Must be unique among live
   * processes: owner ids (`<workerId>/<n>`) are what fencing and the Redis store's recognition of a
   * re-sent command tell runs apart by.
   */
  workerId?: string;
  /** Default tenant for operations that do not name one. */
  tenant?: string;
  /** Clock, epoch ms (injectable for tests). */
  now?: () => number;
  /**
   * When a successful call's CONFIRMED record is written. `awaited` (default): before the result is
   * returned, so a returned result is always on record. `background`: just after, on the next turn of
   * the event loop, which takes one store round trip off every new call (and its work off the
   * caller's path). The side effect still runs at most once: the claim before it is awaited either way.
   * What changes: if the process dies, or the store fails, in the moment between returning and
   * recording, the record stays SUBMITTED and the key's next call reconciles it (or reports it in
   * doubt) instead of replaying it. Call `await ledger.flush()` before closing the store's client or
   * exiting. Not for a `DurableCheckpointer`'s ledger, whose journal must be on record before a step's
   * output moves on.
   */
  confirmation?: "awaited" | "background";
}

export interface ResolveOptions {
  /** The record as it was when the downstream was checked; refuse if its fencing token or attempt changed. */
  expect?: Pick<OperationRecord, "fencingToken" | "attempt">;
}

export type Resolution =
  | { status: "applied"; result?: unknown; effect?: Effect; reason?: string }
  | { status: "failed"; error: { message: string; code?: string; name?: string } }
  | { status: "not_applied" };

/** Internals an `OperationRun` needs; not part of the public API. */
export interface LedgerRuntime {
  store: LedgerStore;
  leaseMs: number;
  waitTimeoutMs: number;
  retry: RetryPolicy;
  recordTtlMs: number | null;
  /** When a record settling now may be forgotten (null: never). */
  expiresAt: () => number | null;
  maxPayloadBytes: number;
  redactor: Redactor | undefined;
  storeArgs: boolean;
  persistAllEvents: boolean;
  now: () => number;
  nextOwner: () => string;
  publish: (events: readonly LedgerEventInput[]) => void;
  /** Runs a store call; anything but a durable-tools error becomes `LedgerUnavailableError`. */
  call: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  /** Appends events that accompany no state change (if configured) and publishes them. */
  report: (events: readonly LedgerEventInput[]) => Promise<void>;
  /** Confirmations owed to the store (`confirmation: "background"`); undefined when they are awaited. */
  confirmations: BackgroundConfirmations | undefined;
}

/**
 * The operation ledger: runs side effects at most once per key (exactly one recorded effect), replays
 * their results, and reports every step as an event. `durableTool()` is built on it.
 */
export class Ledger {
  readonly store: LedgerStore;
  readonly tenant: string | undefined;
  /** When a successful call's record is confirmed: before (`awaited`) or after (`background`) it returns. */
  readonly confirmation: "awaited" | "background";
  readonly #bus = new EventBus();
  readonly #runtime: LedgerRuntime;
  #runs = 0;

  constructor(options: LedgerOptions) {
    if (options?.store === undefined) {
      throw new InvalidConfigurationError(
        "new Ledger({ store }) needs a store, e.g. new MemoryLedgerStore().",
      );
    }
    const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const ttl = options.recordTtlMs === undefined ? 7 * 24 * 3600 * 1000 : options.recordTtlMs;
    this.store = options.store;
    this.tenant = options.tenant;
    this.confirmation = confirmationMode(options.confirmation);
    const store = options.store;
    const persistAll = (options.persistEvents ?? "state_changes") === "all";
    const leaseMs = positiveInteger("leaseMs", options.leaseMs ?? 30_000);
    const runtime: LedgerRuntime = {
      store,
      leaseMs,
      waitTimeoutMs:
        options.waitTimeoutMs === 0 ? 0 : positiveInteger("waitTimeoutMs", options.waitTimeoutMs ?? 10_000),
      retry: options.retry instanceof RetryPolicy ? options.retry : new RetryPolicy(options.retry),
      recordTtlMs: ttl === null ? null : positiveInteger("recordTtlMs", ttl),
      expiresAt: () => (runtime.recordTtlMs === null ? null : runtime.now() + runtime.recordTtlMs),
      maxPayloadBytes: positiveInteger(
        "maxPayloadBytes",
        options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
        "bytes",
      ),
      redactor: options.redact ? new Redactor(options.redact) : undefined,
      storeArgs: options.storeArgs ?? true,
      persistAllEvents: persistAll,
      now: options.now ?? Date.now,
      nextOwner: () => `${workerId}/${++this.#runs}`,
      publish: (events) => this.#bus.emit(events),
      call: async (what, fn) => {
        try {
          return await fn();
        } catch (error) {
          if (isDurableToolsError(error)) throw error;
          throw new LedgerUnavailableError(
            `The ledger store failed during ${what}: ${messageOf(error)}. No side effect was started by this step.`,
            error,
          );
        }
      },
      report: async (events) => {
        if (persistAll) await runtime.call("appendEvents", () => store.appendEvents(events));
        runtime.publish(events);
      },
      // An owed write must land well inside the lease the call held: it waits at most a quarter of it.
      confirmations:
        this.confirmation === "background"
          ? new BackgroundConfirmations(Math.max(1, Math.floor(leaseMs / 4)), () => runtime.now())
          : undefined,
    };
    this.#runtime = runtime;
    runtimes.set(this, runtime);
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  on(listener: EventListener): () => void {
    return this.#bus.on(listener);
  }

  /** Runs one side effect under the ledger (see `OperationSpec`). */
  execute<A, R>(spec: OperationSpec<A, R>): Promise<ExecutionResult<R>> {
    const withTenant =
      spec.tenant === undefined && this.tenant !== undefined ? { ...spec, tenant: this.tenant } : spec;
    return new OperationRun(this.#runtime, withTenant).execute();
  }

  /** The ledger key a call would use, without touching the store (dry runs, diagnostics). */
  keyFor(
    spec: Omit<KeySpec, "tenant"> & { tenant?: string | undefined; args: unknown },
    argsFingerprint: string = this.fingerprintOf(spec.args),
  ): {
    key: string;
    source: KeySource;
  } {
    return operationKey({ ...spec, tenant: spec.tenant ?? this.tenant }, argsFingerprint);
  }

  /** The fingerprint a call's arguments have (`sha256:` of their canonical JSON). */
  fingerprintOf(args: unknown): string {
    return fingerprint(args, { maxBytes: this.#runtime.maxPayloadBytes });
  }

  /** A fresh owner id of this worker (`<worker id>/<n>`), for a lease taken outside `execute()`. */
  newOwner(): string {
    return this.#runtime.nextOwner();
  }

  /** The ledger's clock (epoch ms): what leases and expiries are compared with. */
  now(): number {
    return this.#runtime.now();
  }

  /** The key's record; after any confirmation this ledger still owed it was written. */
  async get(key: string): Promise<OperationRecord | undefined> {
    await this.#runtime.confirmations?.settled(key);
    return this.#runtime.call("get", () => this.store.get(key));
  }

  /**
   * Waits until every result returned so far is on record (`confirmation: "background"`; at once
   * otherwise), not for results returned meanwhile. Throws `ConfirmationFailedError` listing those the
   * store could not record (their records stay SUBMITTED, in doubt for their next call), and earlier
   * failures no `flush()` has reported yet: ledger-wide, each failure is reported to the flushes that
   * waited for it, or else to the next one. Call it before closing the store's client, at shutdown, or
   * wherever later work must find the results on record; `ledger.get(key)` tells about one key.
   */
  async flush(): Promise<void> {
    await this.#runtime.confirmations?.flush();
  }

  /**
   * Deletes every operation (record and events) whose full ledger key starts with `keyPrefix`, in
   * flight or not; returns how many. For deleting a scope such as a LangGraph thread's journal.
   */
  deleteByKeyPrefix(keyPrefix: string): Promise<number> {
    const { store } = this;
    if (typeof store.deleteByKeyPrefix !== "function") {
      throw new InvalidConfigurationError(
        `${store.constructor.name} cannot delete operations by key prefix (LedgerStore.deleteByKeyPrefix); MemoryLedgerStore, SqliteLedgerStore and RedisLedgerStore can.`,
      );
    }
    assertKeyPrefix(keyPrefix);
    const deleteScope = store.deleteByKeyPrefix.bind(store);
    return this.#runtime.call("deleteByKeyPrefix", () => deleteScope(keyPrefix));
  }

  /** Operations nobody is working on that may or may not have happened (and, optionally, abandoned ones). */
  async listInDoubt(
    options: { includeUnfinished?: boolean; limit?: number } = {},
  ): Promise<OperationRecord[]> {
    checkLimit("listInDoubt", options.limit);
    return this.#runtime.call("listInDoubt", () =>
      this.store.listInDoubt({ ...options, now: this.#runtime.now() }),
    );
  }

  async readEvents(options?: ReadEventsOptions): Promise<LedgerEvent[]> {
    checkLimit("readEvents", options?.limit);
    return this.#runtime.call("readEvents", () => this.store.readEvents(options));
  }

  /**
   * Settles an operation by hand after someone checked the downstream: `applied` confirms it (later
   * calls replay `result`), `failed` stores the error, `not_applied` deletes the record so the next call
   * submits again. Refused while a live worker holds the operation. Pass the record you checked as
   * `options.expect` (from `listInDoubt` or `get`): the resolution is then refused with
   * `StaleOwnerError` if the operation was taken over or submitted again since, because what you
   * found downstream may no longer describe it.
   */
  async resolve(
    key: string,
    resolution: Resolution,
    resolvedBy = "operator",
    options: ResolveOptions = {},
  ): Promise<OperationRecord | undefined> {
    await this.#runtime.confirmations?.settled(key);
    const held = await HeldOperation.take(this.#runtime, key, { expect: options.expect });
    try {
      return await held.settle(resolution, resolvedBy);
    } finally {
      await held.stopRenewing();
    }
  }
}

/**
 * The runtime of a ledger, for this package's modules that act on records outside `execute()`
 * (recovery). Not exported from the package.
 */
export function ledgerRuntime(ledger: Ledger): LedgerRuntime {
  return runtimes.get(ledger) as LedgerRuntime;
}

const runtimes = new WeakMap<Ledger, LedgerRuntime>();

function confirmationMode(mode: LedgerOptions["confirmation"]): "awaited" | "background" {
  if (mode === undefined || mode === "awaited" || mode === "background") return mode ?? "awaited";
  throw new InvalidConfigurationError(
    `Ledger option confirmation must be "awaited" (the default) or "background", not ${JSON.stringify(mode)}.`,
  );
}

/** A `limit` is a whole number of at least 0 (each store would read a fraction or a negative its own way). */
function checkLimit(method: string, limit: number | undefined): void {
  if (limit === undefined || (Number.isSafeInteger(limit) && limit >= 0)) return;
  throw new InvalidConfigurationError(
    `ledger.${method}: limit must be a whole number of at least 0 (or left out for no limit), got ${limit}.`,
  );
}
