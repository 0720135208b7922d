import type { LedgerEvent, LedgerEventInput } from "./events.js";
import type { OperationRecord } from "./record.js";
import type {
  ClaimRequest,
  ClaimResult,
  LedgerStore,
  ListInDoubtOptions,
  ReadEventsOptions,
  ReleaseRequest,
  RenewLeaseRequest,
  TransitionRequest,
} from "./store.js";
import {
  applyTransition,
  assertFence,
  assertKeyPrefix,
  decideClaim,
  isInDoubtCandidate,
} from "./store-rules.js";

/**
 * An in-process ledger: for tests, single-process agents and as the reference implementation of
 * the store contract. Every method runs to completion without awaiting, so each is atomic.
 * Records are copied and deep-frozen when written, so the ones handed out can be shared safely
 * (a replay costs no copy) and callers can never change stored state.
 */
export class MemoryLedgerStore implements LedgerStore {
  readonly #records = new Map<string, OperationRecord>();
  readonly #events: LedgerEvent[] = [];
  #seq = 0;

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    const result = decideClaim(this.#records.get(request.key), request);
    if (result.outcome === "existing") return result;
    const record = this.#put(result.record);
    this.#append(result.outcome === "created" ? request.events : request.takeoverEvents);
    return { ...result, record };
  }

  async transition(request: TransitionRequest): Promise<OperationRecord> {
    const next = this.#put(applyTransition(this.#records.get(request.key), request));
    this.#append(request.events);
    return next;
  }

  async renewLease(request: RenewLeaseRequest): Promise<OperationRecord> {
    const current = assertFence(this.#records.get(request.key), request);
    return this.#put({ ...current, leaseExpiresAt: request.leaseExpiresAt, updatedAt: request.now });
  }

  async release(request: ReleaseRequest): Promise<void> {
    assertFence(this.#records.get(request.key), request);
    this.#records.delete(request.key);
    this.#append(request.events);
  }

  async get(key: string): Promise<OperationRecord | undefined> {
    return this.#records.get(key);
  }

  async listInDoubt(options: ListInDoubtOptions): Promise<OperationRecord[]> {
    const found = [...this.#records.values()]
      .filter((record) => isInDoubtCandidate(record, options.now, options.includeUnfinished ?? false))
      .sort((a, b) => a.updatedAt - b.updatedAt);
    return found.slice(0, options.limit ?? found.length);
  }

  async appendEvents(events: readonly LedgerEventInput[]): Promise<void> {
    this.#append(events);
  }

  async readEvents(options: ReadEventsOptions = {}): Promise<LedgerEvent[]> {
    const afterSeq = options.afterSeq ?? 0;
    const matching = this.#events.filter(
      (event) => event.seq > afterSeq && (options.key === undefined || event.key === options.key),
    );
    return matching.slice(0, options.limit ?? matching.length);
  }

  async deleteByKeyPrefix(keyPrefix: string): Promise<number> {
    assertKeyPrefix(keyPrefix);
    const doomed = new Set([...this.#records.keys()].filter((key) => key.startsWith(keyPrefix)));
    for (const event of this.#events) if (event.key.startsWith(keyPrefix)) doomed.add(event.key);
    for (const key of doomed) this.#records.delete(key);
    const kept = this.#events.filter((event) => !doomed.has(event.key));
    this.#events.splice(0, this.#events.length, ...kept);
    return doomed.size;
  }

  #put(record: OperationRecord): OperationRecord {
    const stored = deepFreeze(structuredClone(record));
    this.#records.set(record.key, stored);
    return stored;
  }

  #append(events: readonly LedgerEventInput[]): void {
    for (const event of events)
      this.#events.push(deepFreeze({ ...structuredClone(event), seq: ++this.#seq }));
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
