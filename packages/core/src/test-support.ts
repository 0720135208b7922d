import type { LedgerStore } from "./store.js";

/*
 * Helpers shared by this package's tests (not exported from the package entry point).
 */

/** A downstream billing system with a ground-truth count of invoices it created. */
export class FakeBilling {
  readonly invoices = new Map<string, { id: string; amount: number; customer: string }>();
  calls = 0;

  /** Creates an invoice; with `dedupe`, a repeated idempotency key returns the first invoice (Stripe-style). */
  create(input: { amount: number; customer: string }, idempotencyKey: string, dedupe = false) {
    this.calls++;
    const existing = this.invoices.get(idempotencyKey);
    if (dedupe && existing) return existing;
    const invoice = { id: `inv_${this.invoices.size + 1}`, ...input };
    this.invoices.set(dedupe ? idempotencyKey : `${idempotencyKey}#${this.calls}`, invoice);
    return invoice;
  }

  findByKey(idempotencyKey: string) {
    for (const [key, invoice] of this.invoices) if (key.split("#")[0] === idempotencyKey) return invoice;
    return undefined;
  }

  get created(): number {
    return this.invoices.size;
  }
}

export function networkError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

export function httpError(status: number, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error(`HTTP ${status}`), { status, headers });
}

/** Wraps a store and counts calls per method (how many round trips an operation costs). */
export function countingStore(inner: LedgerStore): { store: LedgerStore; counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        counts[String(property)] = (counts[String(property)] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  return { store, counts };
}

export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to be refused");
}

/** fast-check's `anything()` with every exotic value it can make, for canonicalisation properties. */
export const anythingOptions = {
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withSparseArray: true,
  withNullPrototype: true,
  withBoxedValues: true,
  withObjectString: true,
} as const;
