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
import { applyTransition, assertFence, decideClaim, isInDoubtCandidate } from "./store-rules.js";

/**
 * An in-process ledger: for tests, single-process agents and as the reference implementation of
 * the store contract. Every method runs to completion without awaiting, so each is atomic.
 * Records are copied in and out, so callers can never mutate stored state.
 */
export class MemoryLedgerStore implements LedgerStore {
  readonly #records = new Map<string, OperationRecord>();
  readonly #events: LedgerEvent[] = [];
  #seq = 0;

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    const result = decideClaim(this.#records.get(request.key), request);
    if (result.outcome === "existing") return { outcome: "existing", record: structuredClone(result.record) };
    this.#records.set(request.key, result.record);
    this.#append(result.outcome === "created" ? request.events : request.takeoverEvents);
    return { ...result, record: structuredClone(result.record) };
  }

  async transition(request: TransitionRequest): Promise<OperationRecord> {
    const next = applyTransition(this.#records.get(request.key), request);
    this.#records.set(request.key, next);
    this.#append(request.events);
    return structuredClone(next);
  }

  async renewLease(request: RenewLeaseRequest): Promise<OperationRecord> {
    const current = assertFence(this.#records.get(request.key), request);
    const next = { ...current, leaseExpiresAt: request.leaseExpiresAt, updatedAt: request.now };
    this.#records.set(request.key, next);
    return structuredClone(next);
  }

  async release(request: ReleaseRequest): Promise<void> {
    assertFence(this.#records.get(request.key), request);
    this.#records.delete(request.key);
    this.#append(request.events);
  }

  async get(key: string): Promise<OperationRecord | undefined> {
    const record = this.#records.get(key);
    return record === undefined ? undefined : structuredClone(record);
  }

  async listInDoubt(options: ListInDoubtOptions): Promise<OperationRecord[]> {
    const found = [...this.#records.values()]
      .filter((record) => isInDoubtCandidate(record, options.now, options.includeUnfinished ?? false))
      .sort((a, b) => a.updatedAt - b.updatedAt);
    return structuredClone(found.slice(0, options.limit ?? found.length));
  }

  async appendEvents(events: readonly LedgerEventInput[]): Promise<void> {
    this.#append(events);
  }

  async readEvents(options: ReadEventsOptions = {}): Promise<LedgerEvent[]> {
    const afterSeq = options.afterSeq ?? 0;
    const matching = this.#events.filter(
      (event) => event.seq > afterSeq && (options.key === undefined || event.key === options.key),
    );
    return structuredClone(matching.slice(0, options.limit ?? matching.length));
  }

  #append(events: readonly LedgerEventInput[]): void {
    for (const event of events) this.#events.push({ ...structuredClone(event), seq: ++this.#seq });
  }
}
