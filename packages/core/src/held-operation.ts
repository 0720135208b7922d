import {
  InvalidConfigurationError,
  OperationInProgressError,
  RecordNotFoundError,
  StaleOwnerError,
} from "./errors.js";
import { EventType, eventsOfRun, type LedgerEventInput } from "./events.js";
import { expireLease, LeaseKeeper } from "./lease-keeper.js";
import type { LedgerRuntime, Resolution } from "./ledger.js";
import { isLeaseExpired, isTerminal, type OperationRecord, type StoredError } from "./record.js";
import type { Fence } from "./store.js";
import { encodeValue, type JsonValue } from "./value-codec.js";

export interface TakeOverOptions {
  /**
   * The record as the caller last saw it: refuse (`StaleOwnerError`) if its fencing token or attempt
   * changed since, i.e. someone took it over or submitted it again after the caller looked.
   */
  expect?: Pick<OperationRecord, "fencingToken" | "attempt"> | undefined;
  /** Write a `taken_over` event with the takeover (recovery does; an operator's resolve does not). */
  announce?: boolean;
  /** The record as the caller just read it, so the take-over need not read it again (the claim re-checks it). */
  seen?: OperationRecord;
}

/**
 * An in-flight operation taken over outside `execute()` (by `ledger.resolve`, or by recovery while
 * it asks the tool's reconcile hook): a new owner with a higher fencing token whose lease is renewed
 * while it is held, so no other worker can act on the record until it is settled or let go, and
 * every write it makes is fenced. A worker that took the record over in between makes those writes
 * fail (`StaleOwnerError`) instead of applying an answer about a record that has changed.
 */
export class HeldOperation {
  readonly record: OperationRecord;
  readonly #rt: LedgerRuntime;
  readonly #lease: LeaseKeeper;
  readonly #newEvent: ReturnType<typeof eventsOfRun>;

  private constructor(rt: LedgerRuntime, record: OperationRecord, newEvent: ReturnType<typeof eventsOfRun>) {
    this.#rt = rt;
    this.record = record;
    this.#newEvent = newEvent;
    this.#lease = new LeaseKeeper(rt.store, record, rt.leaseMs, rt.now, () =>
      rt.publish([this.event(EventType.LEASE_LOST)]),
    );
  }

  /**
   * Takes the operation over. Throws `RecordNotFoundError` if there is none, `InvalidConfigurationError`
   * if it is already CONFIRMED or FAILED, `OperationInProgressError` while a live worker holds it,
   * `StaleOwnerError` if it is not the record `options.expect` describes.
   */
  static async take(rt: LedgerRuntime, key: string, options: TakeOverOptions = {}): Promise<HeldOperation> {
    const current = options.seen ?? (await rt.call("get", () => rt.store.get(key)));
    if (current === undefined) throw new RecordNotFoundError(key);
    if (isTerminal(current.state)) throw alreadySettled(current);
    if (!isLeaseExpired(current, rt.now())) throw new OperationInProgressError(current, 0);
    const { expect } = options;
    if (expect !== undefined) assertUnchanged(current, current.fencingToken, expect);
    const owner = rt.nextOwner();
    const newEvent = eventsOfRun(owner, rt.now);
    const takeoverEvents = options.announce ? [eventOf(newEvent, current, owner, EventType.TAKEN_OVER)] : [];
    const claim = await rt.call("claim", () =>
      rt.store.claim({
        key,
        tool: current.tool,
        fingerprint: current.fingerprint,
        owner,
        now: rt.now(),
        leaseMs: rt.leaseMs,
        initialPath: [],
        initialAttempt: 0,
        events: [],
        takeoverEvents,
      }),
    );
    if (claim.outcome === "created") {
      // The record went away between the look and the claim, which made a new one: undo that.
      const { fencingToken } = claim.record;
      await rt.call("release", () => rt.store.release({ key, owner, fencingToken, events: [] }));
      throw new RecordNotFoundError(key);
    }
    if (claim.outcome === "existing") {
      if (isTerminal(claim.record.state)) throw alreadySettled(claim.record);
      throw new OperationInProgressError(claim.record, 0);
    }
    rt.publish(takeoverEvents);
    const held = new HeldOperation(rt, claim.record, newEvent);
    if (expect !== undefined) {
      // Someone may have taken it over (and let it go again) between the look and the claim.
      try {
        assertUnchanged(claim.record, claim.record.fencingToken - 1, expect);
      } catch (error) {
        await held.letGo();
        throw error;
      }
    }
    return held;
  }

  /** Aborted if the lease is lost to another worker. */
  get signal(): AbortSignal {
    return this.#lease.signal;
  }

  event(type: LedgerEventInput["type"], extra: Partial<LedgerEventInput> = {}): LedgerEventInput {
    return eventOf(this.#newEvent, this.record, this.record.owner as string, type, extra);
  }

  /** Appends events that change nothing (if the ledger persists all events) and publishes them. */
  report(events: readonly LedgerEventInput[]): Promise<void> {
    return this.#rt.report(events);
  }

  /**
   * Writes the resolution with this holder's fence: `applied` confirms (SUBMITTED only), `failed`
   * stores the error, `not_applied` deletes the record (returns undefined).
   */
  async settle(resolution: Resolution, resolvedBy: string): Promise<OperationRecord | undefined> {
    const rt = this.#rt;
    const { record } = this;
    const to = resolution.status === "applied" ? "CONFIRMED" : "FAILED";
    if (resolution.status === "applied" && record.state !== "SUBMITTED") {
      await this.letGo();
      throw new InvalidConfigurationError(
        `Operation "${record.key}" is ${record.state}: it was never submitted, so it cannot be confirmed. Resolve it as not_applied.`,
      );
    }
    await this.#lease.stop();
    const resolved = this.event(EventType.RESOLVED, { data: { status: resolution.status, resolvedBy } });
    if (resolution.status === "not_applied") {
      const events = [resolved, this.event(EventType.RELEASED, { from: record.state })];
      await rt.call("release", () => rt.store.release({ ...this.#fence(), events }));
      rt.publish(events);
      return undefined;
    }
    const expiresAt = rt.expiresAt();
    const stored: StoredError | undefined =
      resolution.status === "failed"
        ? {
            name: resolution.error.name ?? "Error",
            message: resolution.error.message,
            retryable: false,
            ...(resolution.error.code === undefined ? {} : { code: resolution.error.code }),
          }
        : undefined;
    const events = [resolved, this.event(EventType.TRANSITION, { from: record.state, to })];
    const patch =
      resolution.status === "applied"
        ? {
            result: encodeValue(resolution.result) as JsonValue,
            effect: resolution.effect ?? "created",
            ...(resolution.reason === undefined ? {} : { reason: resolution.reason }),
            expiresAt,
          }
        : { error: stored, expiresAt };
    const next = await rt.call("transition", () =>
      rt.store.transition({ ...this.#fence(), now: rt.now(), from: record.state, path: [to], patch, events }),
    );
    rt.publish(events);
    return next;
  }

  /**
   * Leaves the record as it is (in doubt, if SUBMITTED) with its lease expired at once, so the next
   * call or recovery can take it over without waiting; returns it as it is now.
   */
  async letGo(): Promise<OperationRecord> {
    await this.#lease.stop();
    return (await expireLease(this.#rt.store, this.#fence(), this.#rt.now())) ?? this.record;
  }

  /** Stops renewing the lease (idempotent); for a holder that ends without settling or letting go. */
  stopRenewing(): Promise<void> {
    return this.#lease.stop();
  }

  #fence(): Fence {
    return { key: this.record.key, owner: this.record.owner ?? "", fencingToken: this.record.fencingToken };
  }
}

function eventOf(
  newEvent: ReturnType<typeof eventsOfRun>,
  record: OperationRecord,
  owner: string,
  type: LedgerEventInput["type"],
  extra: Partial<LedgerEventInput> = {},
): LedgerEventInput {
  return newEvent({
    type,
    key: record.key,
    tool: record.tool,
    ...(record.tenant === undefined ? {} : { tenant: record.tenant }),
    correlationId: record.correlationId ?? owner,
    attempt: record.attempt,
    ...extra,
  });
}

function alreadySettled(record: OperationRecord): InvalidConfigurationError {
  return new InvalidConfigurationError(
    `Operation "${record.key}" is already ${record.state}; only in-flight operations can be resolved.`,
  );
}

/** `record` (whose fencing token before any takeover of ours is `fencingToken`) is the one `expect` saw. */
function assertUnchanged(
  record: OperationRecord,
  fencingToken: number,
  expect: Pick<OperationRecord, "fencingToken" | "attempt">,
): void {
  if (fencingToken === expect.fencingToken && record.attempt === expect.attempt) return;
  throw new StaleOwnerError(
    record.key,
    `the operation changed since it was looked at (then attempt ${expect.attempt}, fencing token ${expect.fencingToken}; now attempt ${record.attempt}, fencing token ${fencingToken}): look again before resolving it`,
  );
}
