import { isStaleOwnerError } from "./errors.js";
import type { OperationRecord } from "./record.js";
import type { LedgerStore } from "./store.js";

/**
 * Renews an owner's lease while a hook runs (every third of the lease), and aborts the hook's signal
 * if the lease was lost to another worker, so a slow owner stops instead of racing the new one.
 * Fast operations finish before the first renewal and cost no extra write.
 */
export class LeaseKeeper {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  #renewing: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(
    store: LedgerStore,
    record: OperationRecord,
    leaseMs: number,
    now: () => number,
    onLost: (error: unknown) => void,
    parent?: AbortSignal,
  ) {
    if (parent) {
      if (parent.aborted) this.#controller.abort(parent.reason);
      else parent.addEventListener("abort", () => this.#controller.abort(parent.reason), { once: true });
    }
    const fence = { key: record.key, owner: record.owner ?? "", fencingToken: record.fencingToken };
    this.#timer = setInterval(
      () => {
        this.#renewing = store
          .renewLease({ ...fence, now: now(), leaseExpiresAt: now() + leaseMs })
          .then(() => undefined)
          .catch((error: unknown) => {
            // A transient store error is not a lost lease: the next tick tries again.
            if (this.#stopped || !isStaleOwnerError(error)) return;
            onLost(error);
            this.#controller.abort(error);
            this.stop();
          });
      },
      Math.max(1, Math.floor(leaseMs / 3)),
    );
    this.#timer.unref();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Stops renewing; resolves once a renewal already in flight has settled. */
  stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    return this.#renewing;
  }
}
