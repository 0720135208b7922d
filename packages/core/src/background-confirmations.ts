import { ConfirmationFailedError, type UnrecordedConfirmation } from "./errors.js";

/** Owed writes that may wait for the event loop at once; past this the ledger's next call writes them. */
export const MAX_WAITING_CONFIRMATIONS = 16;
/** Failures kept for `flush()` to report; beyond this only their number is. */
const MAX_KEPT_FAILURES = 10_000;

interface Owed {
  readonly scheduledAt: number;
  /** Starts the write (once): on the next turn of the event loop, or sooner when someone waits for it. */
  readonly start: () => void;
  /** The write's outcome: its failure, or undefined once it is on record. Never rejects. */
  readonly settled: Promise<UnrecordedConfirmation | undefined>;
}

/**
 * The confirmations a ledger with `confirmation: "background"` still owes its store. Each write starts
 * on the next turn of the event loop (`setImmediate`), so building and sending it overlaps the caller's
 * next wait instead of adding a round trip to the call that returned. A write starts sooner when
 * something needs it: a call, read or resolution of its key, `flush()`, or the ledger's next call once
 * `MAX_WAITING_CONFIRMATIONS` are waiting or the oldest has waited `maxWaitMs` (a loop on a store that
 * never yields to the event loop would otherwise hold them all until it ends, past their leases).
 */
export class BackgroundConfirmations {
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  /** The latest owed write of each key. */
  readonly #byKey = new Map<string, Owed>();
  /** Scheduled and not started, oldest first. */
  readonly #waiting = new Set<Owed>();
  /** Not yet settled. */
  readonly #inFlight = new Set<Owed>();
  /** Failures no `flush()` has reported yet, by key; a later successful write of the key drops its own. */
  readonly #unreported = new Map<string, UnrecordedConfirmation>();
  #notKept = 0;

  constructor(maxWaitMs: number, now: () => number) {
    this.#maxWaitMs = maxWaitMs;
    this.#now = now;
  }

  /** Owes `key`'s confirmation: `write` runs soon; `onFailure` hears why if it fails. */
  schedule(key: string, write: () => Promise<void>, onFailure: (error: unknown) => void): void {
    const before = this.#byKey.get(key);
    let begin: () => void = () => {};
    const begun = new Promise<void>((resolve) => {
      begin = resolve;
    });
    const owed: Owed = {
      scheduledAt: this.#now(),
      start: () => {
        if (!this.#waiting.delete(owed)) return;
        before?.start();
        begin();
      },
      // An earlier owed write of the same key goes first.
      settled: begun
        .then(() => before?.settled)
        .then(write)
        .then(
          () => {
            this.#unreported.delete(key);
            return undefined;
          },
          (error: unknown) => {
            const failure = { key, error };
            this.#keep(failure);
            onFailure(error);
            return failure;
          },
        )
        .finally(() => {
          this.#inFlight.delete(owed);
          if (this.#byKey.get(key) === owed) this.#byKey.delete(key);
        }),
    };
    this.#byKey.set(key, owed);
    this.#waiting.add(owed);
    this.#inFlight.add(owed);
    setImmediate(owed.start);
  }

  /** Starts the key's owed write now if it waits; settles once it is written or failed. Never rejects. */
  settled(key: string): Promise<unknown> | undefined {
    const owed = this.#byKey.get(key);
    if (owed === undefined) return undefined;
    owed.start();
    return owed.settled;
  }

  /** Before a ledger call: starts every waiting write once too many wait or the oldest waited too long. */
  startOverdue(): void {
    const oldest = this.#waiting.values().next().value;
    if (oldest === undefined) return;
    if (
      this.#waiting.size < MAX_WAITING_CONFIRMATIONS &&
      this.#now() - oldest.scheduledAt < this.#maxWaitMs
    ) {
      return;
    }
    for (const owed of [...this.#waiting]) owed.start();
  }

  /**
   * Waits for every write owed when it is called (started at once), not for later ones. Throws
   * `ConfirmationFailedError` for those of them that failed, and for earlier failures no `flush()` has
   * reported yet (and whose key has not been confirmed since).
   */
  async flush(): Promise<void> {
    const owed = [...this.#inFlight];
    for (const entry of owed) entry.start();
    const failures = new Map<string, UnrecordedConfirmation>();
    for (const failure of await Promise.all(owed.map((entry) => entry.settled))) {
      if (failure !== undefined) failures.set(failure.key, failure);
    }
    for (const [key, failure] of this.#unreported) if (!failures.has(key)) failures.set(key, failure);
    for (const key of failures.keys()) this.#unreported.delete(key);
    const notKept = this.#notKept;
    this.#notKept = 0;
    if (failures.size === 0 && notKept === 0) return;
    throw new ConfirmationFailedError([...failures.values()], notKept);
  }

  #keep(failure: UnrecordedConfirmation): void {
    if (this.#unreported.size < MAX_KEPT_FAILURES || this.#unreported.has(failure.key)) {
      this.#unreported.set(failure.key, failure);
    } else {
      this.#notKept++;
    }
  }
}
