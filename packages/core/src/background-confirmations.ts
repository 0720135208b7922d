import { ConfirmationFailedError, type UnrecordedConfirmation } from "./errors.js";

/**
 * The confirmations a ledger with `confirmation: "background"` still owes its store. Each is written
 * after its result went back to the caller: on the next turn of the event loop (`setImmediate`), so
 * building and sending it overlaps the caller's next wait instead of adding a round trip to this call.
 */
export class BackgroundConfirmations {
  readonly #pending = new Map<string, Promise<void>>();
  #failures: UnrecordedConfirmation[] = [];

  /** Writes a key's confirmation soon; `onFailure` hears why if it cannot be written. */
  schedule(key: string, write: () => Promise<void>, onFailure: (error: unknown) => void): void {
    const before = this.#pending.get(key);
    const written = (before ?? Promise.resolve())
      .then(nextTurn)
      .then(write)
      .catch((error: unknown) => {
        this.#failures.push({ key, error });
        onFailure(error);
      })
      .finally(() => {
        if (this.#pending.get(key) === written) this.#pending.delete(key);
      });
    this.#pending.set(key, written);
  }

  /** Settles once the key's owed confirmation (if any) was written or failed; never rejects. */
  settled(key: string): Promise<void> | undefined {
    return this.#pending.get(key);
  }

  get size(): number {
    return this.#pending.size;
  }

  /**
   * Waits until every confirmation owed so far (and any scheduled meanwhile) was written; throws
   * `ConfirmationFailedError` for those that could not be, once.
   */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending.values());
    const failures = this.#failures;
    if (failures.length === 0) return;
    this.#failures = [];
    throw new ConfirmationFailedError(failures);
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
