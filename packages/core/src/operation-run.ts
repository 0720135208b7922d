import { randomUUID } from "node:crypto";
import { isEffectResult } from "./effect-result.js";
import { isControlFlowSignal } from "./error-classification.js";
import {
  AbortedError,
  DeadlineExceededError,
  IdempotencyConflictError,
  isAbortedError,
  isDurableToolsError,
  LedgerUnavailableError,
  messageOf,
  OperationFailedError,
  OperationInDoubtError,
  OperationInProgressError,
  RetryExhaustedError,
} from "./errors.js";
import { EventType, eventsOfRun, type LedgerEventInput } from "./events.js";
import { fingerprint } from "./fingerprint.js";
import { safeRead } from "./guarded-reads.js";
import { downstreamIdempotencyKey, operationKey } from "./keys.js";
import { once } from "./lazy.js";
import { expireLease, LeaseKeeper } from "./lease-keeper.js";
import type { LedgerRuntime } from "./ledger.js";
import type { ExecutionResult, OperationContext, OperationSpec, Reconciliation } from "./operation.js";
import {
  type Effect,
  hasAppliedResult,
  isLeaseExpired,
  isTerminal,
  type OperationRecord,
  OperationState,
  type StoredError,
} from "./record.js";
import type { RetryDecision, RetryPolicy } from "./retry-policy.js";
import { sleep } from "./retry-policy.js";
import type { ClaimRequest, RecordPatch } from "./store.js";
import { decodeValue, encodeValue, type JsonValue } from "./value-codec.js";

const { PENDING, VALIDATED, SUBMITTED, CONFIRMED, FAILED } = OperationState;
const MIN_POLL_MS = 2;
const MAX_POLL_MS = 100;

/**
 * One call of `Ledger.execute`: claim, then authorize / validate / submit / confirm, or replay, wait,
 * reconcile.
 */
export class OperationRun<A, R> {
  readonly #rt: LedgerRuntime;
  readonly #spec: OperationSpec<A, R>;
  readonly #retry: RetryPolicy;
  readonly #owner: string;
  readonly #correlationId: string;
  readonly #startedAt: number;
  #key = "";
  #fingerprint = "";
  #idempotencyKeyValue: string | undefined;
  readonly #newEvent: ReturnType<typeof eventsOfRun>;
  #record!: OperationRecord;
  #lease: LeaseKeeper | undefined;
  #previousDelayMs = 0;
  /**
   * Set once a submission's outcome is unknown (it may have reached the downstream) and nothing
   * (no reconcile answer) has shown it did not: from then on no failure may release the record or
   * store it as FAILED, only leave it in doubt. Says which attempt and why.
   */
  #mayHaveApplied: string | undefined;
  /**
   * This call's own submit succeeded (and what followed it failed): the effect is known to be applied,
   * so no answer (a reconcile's "not applied") may lead to submitting it again.
   */
  #submitSucceeded = false;

  constructor(runtime: LedgerRuntime, spec: OperationSpec<A, R>) {
    this.#rt = runtime;
    this.#spec = spec;
    this.#retry = spec.retry ?? runtime.retry;
    this.#owner = runtime.nextOwner();
    this.#newEvent = eventsOfRun(this.#owner, runtime.now);
    this.#correlationId = spec.correlationId ?? randomUUID();
    this.#startedAt = runtime.now();
  }

  async execute(): Promise<ExecutionResult<R>> {
    this.#rt.confirmations?.startOverdue();
    // Everything that can reject the input happens before the store is touched.
    this.#fingerprint = fingerprint(this.#spec.args, { maxBytes: this.#rt.maxPayloadBytes });
    this.#key = operationKey(this.#spec, this.#fingerprint).key;
    // A confirmation this ledger still owes the key goes first: this call then replays it.
    const owed = this.#rt.confirmations?.settled(this.#key);
    if (owed !== undefined) await owed;
    // What only a new record needs (its stored arguments, its creation events) is built when a store
    // first reads it: a replay pays for none of it.
    const storedArgs = this.#rt.storeArgs ? once(() => this.#storedArgs()) : undefined;
    // Without a validate or authorize hook the claim goes straight to SUBMITTED: the first submission.
    // With one it stays PENDING, so an owner that dies in the hook leaves a record the next call takes
    // over and runs the hooks for, never one in doubt that no hook approved.
    const initialPath = this.#spec.validate || this.#spec.authorize ? [] : [VALIDATED, SUBMITTED];
    const initialAttempt = initialPath.length > 0 ? 1 : 0;

    for (;;) {
      this.#throwIfAborted();
      const created = once(() => {
        const claimEvent = this.#event(EventType.CLAIMED, { attempt: initialAttempt, to: PENDING });
        if (storedArgs !== undefined) claimEvent.data = { args: storedArgs() };
        return [claimEvent, ...this.#pathEvents(PENDING, initialPath, initialAttempt)];
      });
      const takenOver = once(() => [this.#event(EventType.TAKEN_OVER)]);
      // Getters: a store reads these only to create a record (or take one over).
      const request: ClaimRequest = {
        key: this.#key,
        tool: this.#spec.tool,
        ...(this.#spec.tenant === undefined ? {} : { tenant: this.#spec.tenant }),
        fingerprint: this.#fingerprint,
        owner: this.#owner,
        now: this.#rt.now(),
        leaseMs: this.#rt.leaseMs,
        initialPath,
        initialAttempt,
        correlationId: this.#correlationId,
        ...(this.#spec.scope === undefined ? {} : { scope: this.#spec.scope }),
        get args() {
          return storedArgs?.();
        },
        get events() {
          return created();
        },
        get takeoverEvents() {
          return takenOver();
        },
      };
      const claim = await this.#rt.call("claim", () => this.#rt.store.claim(request));
      this.#record = claim.record;
      if (claim.outcome === "created") {
        this.#rt.publish(created());
        return this.#withLease(() =>
          this.#record.state === PENDING ? this.#validate() : this.#submitLoop(),
        );
      }
      if (claim.outcome === "taken_over") {
        this.#rt.publish(takenOver());
        return this.#withLease(() => this.#resumeAfterTakeover());
      }
      const existing = claim.record;
      if (existing.fingerprint !== this.#fingerprint) {
        await this.#rt.report([
          this.#event(EventType.CONFLICT, { data: { storedFingerprint: existing.fingerprint } }),
        ]);
        throw new IdempotencyConflictError(this.#key, existing.fingerprint, this.#fingerprint);
      }
      if (existing.state === CONFIRMED) return this.#replay(existing);
      if (existing.state === FAILED) {
        await this.#rt.report([this.#event(EventType.REPLAYED, { to: FAILED })]);
        throw new OperationFailedError(this.#key, existing.error ?? unknownStoredError(), true);
      }
      await this.#waitForOutcome(existing);
    }
  }

  // --- the steps -----------------------------------------------------------------------------

  /** The authorize hook, once per owner that makes the first submission. A refusal frees the key. */
  async #authorize(): Promise<void> {
    const authorize = this.#spec.authorize;
    if (authorize === undefined) return;
    try {
      await authorize(this.#spec.args, this.#context());
    } catch (error) {
      if (isControlFlowSignal(error)) return this.#yieldControl(error, "authorize");
      // Never retried: a refusal is an answer, not a failure of the downstream.
      await this.#release(error, "unauthorized");
      throw error;
    }
  }

  /** This owner makes the first submission (nothing was submitted yet): authorize, then validate. */
  async #validate(): Promise<ExecutionResult<R>> {
    await this.#authorize();
    const validate = this.#spec.validate;
    if (validate) {
      for (let tries = 1; ; tries++) {
        try {
          await validate(this.#spec.args, this.#context());
          break;
        } catch (error) {
          if (isControlFlowSignal(error)) return this.#yieldControl(error, "validate");
          const classification = this.#retry.classify(error);
          if (!classification.retryable) return this.#fail(error);
          const decision = this.#decide(error, tries);
          if (!decision.retry) return this.#giveUpNotApplied(error, decision.why);
          await this.#scheduleRetry(decision, error);
        }
      }
    }
    await this.#stopIfAborted();
    await this.#move([VALIDATED, SUBMITTED], { attempt: this.#record.attempt + 1 });
    return this.#submitLoop();
  }

  async #resumeAfterTakeover(): Promise<ExecutionResult<R>> {
    const state = this.#record.state;
    if (state === PENDING) return this.#validate();
    if (state === VALIDATED) {
      await this.#authorize();
      await this.#stopIfAborted();
      await this.#move([SUBMITTED], { attempt: this.#record.attempt + 1 });
      return this.#submitLoop();
    }
    this.#mayHaveApplied = `attempt ${this.#record.attempt} (of an owner that stopped while it was SUBMITTED) may have been applied and nothing has shown it was not`;
    return this.#resolveInDoubt(
      undefined,
      `its previous owner stopped while it was SUBMITTED (attempt ${this.#record.attempt}) and its lease expired`,
    );
  }

  async #submitLoop(): Promise<ExecutionResult<R>> {
    for (;;) {
      // An abort during the claim, a hook or a backoff: this submission is not made.
      await this.#stopIfAborted();
      let outcome: Awaited<ReturnType<OperationSpec<A, R>["submit"]>>;
      try {
        outcome = await this.#spec.submit(this.#spec.args, this.#context());
      } catch (error) {
        if (isControlFlowSignal(error)) return this.#yieldControl(error, "submit");
        const classification = this.#retry.classify(error);
        if (classification.outcome === "unknown") {
          const detail = `submit failed with ${classification.reason} after the request may have reached the downstream`;
          this.#mayHaveApplied = `attempt ${this.#record.attempt} may have been applied (${detail}) and nothing has shown it was not`;
          return this.#resolveInDoubt(error, detail);
        }
        if (!classification.retryable) {
          if (this.#mayHaveApplied !== undefined) {
            return this.#stayInDoubt(error, `failed with ${classification.reason} (permanent)`);
          }
          return this.#fail(error);
        }
        const decision = this.#decide(error, this.#record.attempt);
        if (!decision.retry) {
          if (this.#mayHaveApplied !== undefined) {
            return this.#stayInDoubt(
              error,
              `failed with ${classification.reason}, and retrying stopped (${decision.why})`,
            );
          }
          return this.#giveUpNotApplied(error, decision.why);
        }
        await this.#scheduleRetry(decision, error);
        await this.#move([SUBMITTED], { attempt: this.#record.attempt + 1 });
        continue;
      }
      let data: R;
      let effect: Effect | undefined;
      let reason: string | undefined;
      if (isEffectResult<R>(outcome)) ({ data, effect, reason } = outcome);
      else data = outcome;
      if (this.#spec.confirm) {
        try {
          data = await this.#spec.confirm(data, this.#context());
        } catch (error) {
          if (isControlFlowSignal(error)) {
            // The submit succeeded: the graph may pause, but the record must not forget the effect.
            this.#mayHaveApplied = `attempt ${this.#record.attempt} was applied (its submit succeeded before confirm stopped)`;
            return this.#yieldControl(error, "confirm");
          }
          const classification = this.#retry.classify(error);
          await this.#keepApplied(encodeValue(data));
          const failed = `confirm failed with ${classification.reason}`;
          this.#mayHaveApplied = `attempt ${this.#record.attempt} was applied (its submit succeeded, then ${failed})`;
          if (classification.retryable || classification.outcome === "unknown") {
            return this.#resolveInDoubt(error, `${failed} after a successful submit`);
          }
          // Not FAILED: the effect exists, and a stored failure would tell every later call it does not.
          return this.#doubt(`${failed} (permanent) after a successful submit, so the effect exists`, error);
        }
      }
      return this.#confirm(data, effect, reason);
    }
  }

  /** The downstream may have acted: ask it (reconcile), resubmit to a deduplicating one, or stop. */
  async #resolveInDoubt(cause: unknown, detail: string): Promise<ExecutionResult<R>> {
    await this.#rt.report([this.#event(EventType.IN_DOUBT, { data: { detail } })]);
    if (this.#spec.reconcile) {
      const answer = await this.#reconcile();
      if (answer.status === "applied") {
        const outcome = answer.result;
        return isEffectResult<R>(outcome)
          ? this.#confirm(outcome.data, outcome.effect, outcome.reason)
          : this.#confirm(outcome, undefined, undefined);
      }
      if (answer.status === "not_applied") {
        if (this.#submitSucceeded || hasAppliedResult(this.#record)) {
          // This call saw its submit succeed: the answer is stale or wrong, and resubmitting would apply
          // the effect twice.
          return this.#markInDoubt(
            `${detail}; reconcile answered "not applied", but a submit of attempt ${this.#record.attempt} succeeded (the record keeps its result), so it is not submitted again`,
            cause,
          );
        }
        // The downstream looked the key up: no submission so far was applied.
        this.#mayHaveApplied = undefined;
        const blocked = this.#resubmitBlocked();
        if (blocked !== undefined) {
          return this.#giveUpNotApplied(cause ?? new Error(detail), blocked);
        }
        return this.#resubmit();
      }
      return this.#markInDoubt(`${detail}; reconcile could not tell (${answer.detail ?? "unknown"})`, cause);
    }
    if (!this.#spec.dedupesDownstream) return this.#markInDoubt(detail, cause);
    const blocked = this.#resubmitBlocked();
    if (blocked === undefined) return this.#resubmit();
    const submissions = `${this.#record.attempt} submissions to the deduplicating downstream`;
    const why =
      blocked === "deadline"
        ? `${detail}; the retry deadline of ${this.#retry.options.deadlineMs} ms passed after ${submissions}`
        : `${detail}; gave up after ${submissions}`;
    return this.#markInDoubt(why, cause);
  }

  async #reconcile(): Promise<Reconciliation<R>> {
    let answer: Reconciliation<R>;
    try {
      answer = await (this.#spec.reconcile as NonNullable<OperationSpec<A, R>["reconcile"]>)(
        this.#spec.args,
        this.#context(),
      );
    } catch (error) {
      // A reconcile that asks a person (`interrupt()`): the record stays in doubt, its lease expired so
      // the resumed call takes it over and asks again; the graph pauses.
      if (isControlFlowSignal(error)) return this.#yieldControl(error, "reconcile");
      answer = { status: "unknown", detail: `reconcile threw: ${messageOf(error)}` };
    }
    await this.#rt.report([this.#event(EventType.RECONCILED, { data: { status: answer.status } })]);
    return answer;
  }

  async #resubmit(): Promise<ExecutionResult<R>> {
    const delayMs = this.#retry.backoff(this.#record.attempt, this.#previousDelayMs);
    await this.#scheduleRetry(
      { retry: true, delayMs, classification: this.#retry.classify(undefined) },
      undefined,
    );
    await this.#move([SUBMITTED], { attempt: this.#record.attempt + 1 });
    return this.#submitLoop();
  }

  /** Why no further submission is allowed (attempts used up, or the retry deadline passed); undefined if one is. */
  #resubmitBlocked(): "max_attempts" | "deadline" | undefined {
    const { maxAttempts, deadlineMs } = this.#retry.options;
    if (this.#record.attempt >= maxAttempts) return "max_attempts";
    if (deadlineMs !== undefined && this.#rt.now() - this.#startedAt >= deadlineMs) return "deadline";
    return undefined;
  }

  async #confirm(
    data: R,
    effect: Effect | undefined,
    reason: string | undefined,
  ): Promise<ExecutionResult<R>> {
    const encoded = encodeValue(data);
    let finalEffect: Effect;
    try {
      finalEffect = effect ?? this.#declaredEffect(data);
    } catch (error) {
      // The effect exists; what to call it is unknown: in doubt, never a plain error that reads "failed".
      await this.#keepApplied(encoded);
      return this.#doubt(
        `attempt ${this.#record.attempt} was applied, but the tool's effect function threw: ${messageOf(error)}`,
        error,
      );
    }
    const patch: RecordPatch = { result: encoded, effect: finalEffect, expiresAt: this.#rt.expiresAt() };
    if (reason !== undefined) patch.reason = reason;
    // Redacted now: the caller may change `data` once it has it back.
    const resultForEvents = this.#rt.redactor
      ? encodeValue(this.#rt.redactor.redact("result", data))
      : encoded;
    const record = async () => {
      try {
        await this.#move([CONFIRMED], patch, { result: resultForEvents, effect: finalEffect });
      } catch (error) {
        throw this.#unrecorded(error);
      }
    };
    const owed = this.#rt.confirmations;
    // Background: returned now, recorded just after; until then the record (returned as it is) says SUBMITTED.
    if (owed !== undefined) owed.schedule(this.#key, record, (error) => this.#reportUnrecorded(error));
    else await record();
    return {
      key: this.#key,
      idempotencyKey: this.#idempotencyKey,
      // The caller gets exactly what a replay will get.
      result: decodeValue(encoded) as R,
      effect: finalEffect,
      replayed: false,
      ...(reason === undefined ? {} : { reason }),
      record: this.#record,
    };
  }

  /** The error for a confirmation the store failed to write: a lost ledger must not read as "nothing ran". */
  #unrecorded(error: unknown): unknown {
    if (!isDurableToolsError(error) || error.code !== "LEDGER_UNAVAILABLE") return error;
    return new LedgerUnavailableError(
      `The side effect of "${this.#key}" completed, but the ledger could not record it (${messageOf(error.cause ?? error)}). The record stays SUBMITTED; the next call with this key reconciles it instead of repeating it.`,
      error,
    );
  }

  /** A background confirmation failed: listeners hear that the returned result is not on record. */
  #reportUnrecorded(error: unknown): void {
    const detail = `the result of attempt ${this.#record.attempt} was returned, but the ledger did not record it: ${messageOf(error)}`;
    this.#rt.publish([this.#event(EventType.IN_DOUBT, { data: { detail } })]);
  }

  async #fail(error: unknown): Promise<never> {
    const stored = toStoredError(error);
    await this.#move(
      [FAILED],
      { error: stored, expiresAt: this.#rt.expiresAt() },
      { code: stored.code ?? null },
    );
    await this.#rt.report([
      this.#event(EventType.FAILED, { data: { message: stored.message, stored: true } }),
    ]);
    throw new OperationFailedError(this.#key, stored, false, error);
  }

  /** Nothing reached the downstream and retrying is over: free the key and report why. */
  async #giveUpNotApplied(
    error: unknown,
    why: Extract<RetryDecision, { retry: false }>["why"],
  ): Promise<never> {
    await this.#release(error, why);
    if (why === "max_attempts") throw new RetryExhaustedError(this.#record.attempt, error);
    if (why === "deadline") {
      throw new DeadlineExceededError(this.#retry.options.deadlineMs ?? 0, error);
    }
    throw error;
  }

  /**
   * A hook stopped for LangGraph (`interrupt()`, a `Command` to the parent graph): not a failure,
   * and this attempt applied nothing. The key is freed, so the resumed call runs the hook again (and
   * `interrupt()` then returns the resume value), and the signal is rethrown unchanged so the graph
   * pauses. If an attempt may have been applied (an earlier one, or this one's submit before its
   * confirm stopped), or the hook is reconcile (the operation is in doubt already), the record stays in
   * doubt instead, its lease expired, so the resumed call takes it over.
   */
  async #yieldControl(
    signal: unknown,
    hook: "authorize" | "validate" | "submit" | "confirm" | "reconcile",
  ): Promise<never> {
    if (this.#mayHaveApplied !== undefined || hook === "reconcile") {
      const name = safeRead(signal, "name");
      const why = this.#mayHaveApplied ?? "the operation is in doubt";
      const detail = `${hook} of attempt ${this.#record.attempt} stopped for LangGraph (${String(name)}), but ${why}`;
      await this.#rt.report([this.#event(EventType.IN_DOUBT, { data: { detail } })]);
      await this.#letGo();
      throw signal;
    }
    await this.#releaseWith(() => [
      this.#event(EventType.RELEASED, { from: this.#record.state, data: { why: "control_flow" } }),
    ]);
    throw signal;
  }

  /** Deletes the record (nothing was applied), so the key's next call submits again. */
  async #release(error: unknown, why: string): Promise<void> {
    await this.#releaseWith(() => [
      this.#event(EventType.FAILED, { data: { message: messageOf(error), stored: false, why } }),
      this.#event(EventType.RELEASED, { from: this.#record.state }),
    ]);
  }

  async #releaseWith(build: () => LedgerEventInput[]): Promise<void> {
    await this.#stopLease();
    const events = build();
    await this.#rt.call("release", () => this.#rt.store.release({ ...this.#fence(), events }));
    this.#rt.publish(events);
  }

  /**
   * A later attempt failed in a way that would free the key or store a failure, but an earlier
   * attempt may have been applied (`#mayHaveApplied`): the record stays in doubt instead.
   */
  async #stayInDoubt(error: unknown, failure: string): Promise<never> {
    return this.#doubt(
      `submit attempt ${this.#record.attempt} ${failure}, but ${this.#mayHaveApplied}`,
      error,
    );
  }

  async #doubt(detail: string, cause: unknown): Promise<never> {
    await this.#rt.report([this.#event(EventType.IN_DOUBT, { data: { detail } })]);
    return this.#markInDoubt(detail, cause);
  }

  async #markInDoubt(detail: string, cause: unknown): Promise<never> {
    await this.#letGo();
    throw new OperationInDoubtError(this.#record, detail, cause);
  }

  async #letGo(): Promise<void> {
    await this.#stopLease();
    // The next call takes over and reconciles without waiting; the record is in doubt either way.
    this.#record = (await expireLease(this.#rt.store, this.#fence(), this.#rt.now())) ?? this.#record;
  }

  #replay(record: OperationRecord): Promise<ExecutionResult<R>> {
    const at = new Date(record.updatedAt).toISOString();
    const result: ExecutionResult<R> = {
      key: this.#key,
      idempotencyKey: this.#idempotencyKey,
      result: decodeValue(record.result ?? null) as R,
      effect: "noop",
      replayed: true,
      reason: `replayed: already ${record.effect ?? "applied"} by an earlier call at ${at}${record.reason ? ` (${record.reason})` : ""}`,
      record,
    };
    return this.#rt.report([this.#event(EventType.REPLAYED, { to: CONFIRMED })]).then(() => result);
  }

  /** A concurrent duplicate: poll until the owner finishes, its lease expires, or the wait budget ends. */
  async #waitForOutcome(record: OperationRecord): Promise<void> {
    await this.#rt.report([this.#event(EventType.WAITING, { data: { owner: record.owner } })]);
    const deadline = this.#startedAt + this.#rt.waitTimeoutMs;
    let pollMs = MIN_POLL_MS;
    let current: OperationRecord | undefined = record;
    for (;;) {
      const now = this.#rt.now();
      if (current === undefined || isTerminal(current.state) || isLeaseExpired(current, now)) return;
      if (now >= deadline) throw new OperationInProgressError(current, now - this.#startedAt);
      const leaseLeft = (current.leaseExpiresAt ?? now) - now;
      await sleep(Math.max(1, Math.min(pollMs, deadline - now, leaseLeft)), this.#spec.signal);
      pollMs = Math.min(MAX_POLL_MS, pollMs * 2);
      current = await this.#rt.call("get", () => this.#rt.store.get(this.#key));
    }
  }

  // --- helpers ---------------------------------------------------------------------------------

  async #withLease(step: () => Promise<ExecutionResult<R>>): Promise<ExecutionResult<R>> {
    this.#lease = new LeaseKeeper(
      this.#rt.store,
      this.#record,
      this.#rt.leaseMs,
      this.#rt.now,
      () => this.#rt.publish([this.#event(EventType.LEASE_LOST)]),
      this.#spec.signal,
    );
    try {
      return await step();
    } finally {
      await this.#stopLease();
    }
  }

  async #stopLease(): Promise<void> {
    const lease = this.#lease;
    this.#lease = undefined;
    await lease?.stop();
  }

  async #move(
    path: OperationState[],
    patch: RecordPatch,
    data?: { [key: string]: JsonValue },
  ): Promise<void> {
    if (isTerminal(path[path.length - 1] as OperationState)) await this.#stopLease();
    const attempt = patch.attempt ?? this.#record.attempt;
    const events = this.#pathEvents(this.#record.state, path, attempt, data);
    const from = this.#record.state;
    this.#record = await this.#rt.call("transition", () =>
      this.#rt.store.transition({ ...this.#fence(), now: this.#rt.now(), from, path, patch, events }),
    );
    this.#rt.publish(events);
  }

  #decide(error: unknown, attempt: number): RetryDecision {
    return this.#retry.decide(error, {
      attempt,
      startedAt: this.#startedAt,
      previousDelayMs: this.#previousDelayMs,
      now: this.#rt.now(),
    });
  }

  async #scheduleRetry(decision: Extract<RetryDecision, { retry: true }>, error: unknown): Promise<void> {
    this.#previousDelayMs = decision.delayMs;
    await this.#rt.report([
      this.#event(EventType.RETRY_SCHEDULED, {
        data: {
          delayMs: decision.delayMs,
          reason: decision.classification.reason,
          error: error === undefined ? null : messageOf(error),
        },
      }),
    ]);
    const lease = this.#lease;
    try {
      await sleep(decision.delayMs, lease?.signal ?? this.#spec.signal);
    } catch (error) {
      // The caller aborted between attempts, after a failure that did not reach the downstream (a
      // lost lease is not ours to settle). Leaving the record SUBMITTED would make every later call
      // with this key meet an operation "in doubt" that never happened.
      if (isAbortedError(error) && this.#spec.signal?.aborted && lease?.lost !== true) {
        return this.#stopAfterAbort(error);
      }
      throw error;
    }
  }

  /**
   * The caller aborted during a backoff. Nothing of this run is in flight: free the key and throw
   * `AbortedError`, unless an earlier attempt may have been applied (then the record stays in doubt
   * and the error says so: an `AbortedError` would read as "not applied").
   */
  async #stopAfterAbort(aborted: AbortedError): Promise<never> {
    if (this.#mayHaveApplied !== undefined) {
      const detail = `the caller aborted before submit attempt ${this.#record.attempt + 1}, but ${this.#mayHaveApplied}`;
      return this.#doubt(detail, aborted);
    }
    await this.#release(aborted, "aborted");
    throw aborted;
  }

  /**
   * This call's submit succeeded and what follows it failed: the record, still SUBMITTED, keeps the
   * submit's result, so neither this call nor a later one (a takeover, recovery) takes a reconcile's
   * "not applied" for true. Best effort: if the store fails here, this call still knows.
   */
  async #keepApplied(result: JsonValue): Promise<void> {
    this.#submitSucceeded = true;
    try {
      await this.#move([SUBMITTED], { result }, { applied: true });
    } catch {
      // The record stays SUBMITTED without it; the error that follows reports the operation in doubt.
    }
  }

  /** The caller aborted before a submission: it is not made (see `#stopAfterAbort`). */
  async #stopIfAborted(): Promise<void> {
    const signal = this.#spec.signal;
    if (signal?.aborted) await this.#stopAfterAbort(new AbortedError(signal.reason));
  }

  #context(): OperationContext {
    const run = this;
    const lease = this.#lease;
    const callerSignal = this.#spec.signal;
    let unabortable: AbortSignal | undefined;
    // Getters: a derived key hash and an AbortSignal per call cost more than most hooks that ignore them.
    return {
      key: this.#key,
      get idempotencyKey() {
        return run.#idempotencyKey;
      },
      attempt: this.#record.attempt,
      get signal() {
        unabortable ??= new AbortController().signal;
        return lease?.signal ?? callerSignal ?? unabortable;
      },
      correlationId: this.#correlationId,
      record: this.#record,
    };
  }

  #fence() {
    return { key: this.#key, owner: this.#owner, fencingToken: this.#record.fencingToken };
  }

  /** The key sent downstream, derived from the ledger key (computed only when a hook or result needs it). */
  get #idempotencyKey(): string {
    this.#idempotencyKeyValue ??= downstreamIdempotencyKey(this.#key);
    return this.#idempotencyKeyValue;
  }

  /** The arguments as stored: redacted, encoded. */
  #storedArgs(): JsonValue {
    const { redactor } = this.#rt;
    return encodeValue(redactor ? redactor.redact("args", this.#spec.args) : this.#spec.args);
  }

  #declaredEffect(data: R): Effect {
    const declared = this.#spec.effect;
    if (declared === undefined) return "created";
    return typeof declared === "function" ? declared(data) : declared;
  }

  #throwIfAborted(): void {
    if (this.#spec.signal?.aborted) throw new AbortedError(this.#spec.signal.reason);
  }

  #event(type: LedgerEventInput["type"], extra: Partial<LedgerEventInput> = {}): LedgerEventInput {
    const event = this.#newEvent({
      type,
      key: this.#key,
      tool: this.#spec.tool,
      correlationId: this.#correlationId,
      attempt: this.#record?.attempt ?? 0,
      ...extra,
    });
    if (this.#spec.tenant !== undefined) event.tenant = this.#spec.tenant;
    return event;
  }

  #pathEvents(
    from: OperationState,
    path: readonly OperationState[],
    attempt: number,
    data?: { [key: string]: JsonValue },
  ): LedgerEventInput[] {
    let previous = from;
    return path.map((to) => {
      const event = this.#event(EventType.TRANSITION, { from: previous, to, attempt });
      if (data !== undefined && to === path[path.length - 1]) event.data = data;
      if (to === VALIDATED && !this.#spec.validate) event.data = { validateHook: false };
      previous = to;
      return event;
    });
  }
}

function unknownStoredError(): StoredError {
  return { name: "Error", message: "The operation failed (no error was recorded).", retryable: false };
}

export function toStoredError(error: unknown): StoredError {
  const stored: StoredError = {
    name: error instanceof Error ? error.name : "Error",
    message: messageOf(error),
    retryable: false,
  };
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string") stored.code = code;
  return stored;
}
