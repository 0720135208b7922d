import { isStaleOwnerError } from "./errors.js";
import type { OperationRecord } from "./record.js";
import type { Fence, LedgerStore } from "./store.js";

/**
 * Ends a held lease at once, so the next call takes the operation over without waiting. Undefined
 * when the write fails (someone else holds it now, or the store failed): the lease then runs out on
 * its own.
 */
export async function expireLease(
  store: LedgerStore,
  fence: Fence,
  now: number,
): Promise<OperationRecord | undefined> {
  try {
    return await store.renewLease({ ...fence, now, leaseExpiresAt: now });
  } catch {
    return undefined;
  }
}

/**
 * Renews an owner's lease while a hook runs (every third of the lease), and aborts the hook's signal
 * if the lease was lost to another worker, so a slow owner stops instead of racing the new one.
 * Fast operations finish before the first renewal and cost no extra write.
 */
export class LeaseKeeper {
  // Created when a hook first reads `signal` (most never do; an AbortController is not cheap).
  #controller: AbortController | undefined;
  #lostTo: unknown;
  readonly #parent: AbortSignal | undefined;
  /** The listener `signal` put on the caller's signal; removed by `stop()`, so none outlives the lease. */
  #onParentAbort: (() => void) | undefined;
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
    this.#parent = parent;
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
            this.#lostTo = error;
            this.#controller?.abort(error);
            this.stop();
          });
      },
      Math.max(1, Math.floor(leaseMs / 3)),
    );
    this.#timer.unref();
  }

  /** True once a renewal found another owner holding the operation. */
  get lost(): boolean {
    return this.#lostTo !== undefined;
  }

  /** Aborted when the lease is lost, or when the caller's own signal aborts. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      const parent = this.#parent;
      if (this.#lostTo !== undefined) controller.abort(this.#lostTo);
      else if (parent?.aborted) controller.abort(parent.reason);
      else if (parent !== undefined && !this.#stopped) {
        this.#onParentAbort = () => controller.abort(parent.reason);
        parent.addEventListener("abort", this.#onParentAbort, { once: true });
      }
    }
    return this.#controller.signal;
  }

  /**
   * Stops renewing and lets go of the caller's signal (a long-lived signal shared by many calls
   * must not collect a listener per call); resolves once a renewal already in flight has settled.
   */
  stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    if (this.#onParentAbort !== undefined) {
      this.#parent?.removeEventListener("abort", this.#onParentAbort);
      this.#onParentAbort = undefined;
    }
    return this.#renewing;
  }
}
