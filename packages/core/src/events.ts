import { createWriteStream } from "node:fs";
import type { OperationState } from "./record.js";
import type { JsonValue } from "./value-codec.js";

/** Everything the ledger reports. Events are the audit trail and the input of trajectory evals. */
export const EventType = {
  /** A new record was created for the key. */
  CLAIMED: "claimed",
  /** An expired lease was taken over by another worker (higher fencing token). */
  TAKEN_OVER: "taken_over",
  /** The call was answered from the record; nothing executed. */
  REPLAYED: "replayed",
  /** Same key, other arguments: refused, nothing executed. */
  CONFLICT: "conflict",
  /** A concurrent duplicate waits for the first call's outcome. */
  WAITING: "waiting",
  /** A retry was scheduled after a failure that did not reach the downstream. */
  RETRY_SCHEDULED: "retry_scheduled",
  /** One state transition (`from` -> `to`). */
  TRANSITION: "transition",
  /** The downstream may have acted and nothing said whether it did. */
  IN_DOUBT: "in_doubt",
  /** A reconcile hook answered for an in-doubt operation. */
  RECONCILED: "reconciled",
  /** A failure that ends this call (stored as FAILED, or released when nothing happened). */
  FAILED: "failed",
  /** A record that never reached the downstream was deleted so the key can be used again. */
  RELEASED: "released",
  /** An operator settled an in-doubt record with `ledger.resolve()`. */
  RESOLVED: "resolved",
  /** The owner lost its lease while working (another worker took over). */
  LEASE_LOST: "lease_lost",
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** An event as the executor builds it; the store assigns `seq` when it appends it. */
export interface LedgerEventInput {
  id: string;
  type: EventType;
  key: string;
  tool: string;
  tenant?: string;
  correlationId?: string;
  attempt: number;
  /** Epoch milliseconds. */
  at: number;
  from?: OperationState;
  to?: OperationState;
  owner?: string;
  data?: { [key: string]: JsonValue };
}

/**
 * An event as stored. `seq` increases strictly in append order for one key; across keys it follows
 * append order too, but a distributed store (Redis: one stream per operation) may give two keys the
 * same `seq`.
 */
export interface LedgerEvent extends LedgerEventInput {
  seq: number;
}

export type EventListener = (event: LedgerEventInput) => void;

/**
 * The event factory of one run (an executor call or an operator's resolve): ids are the run's owner
 * plus a counter, unique without a random draw per event; `at` and `owner` are filled in.
 */
export function eventsOfRun(
  owner: string,
  now: () => number,
): (fields: Omit<LedgerEventInput, "id" | "at" | "owner">) => LedgerEventInput {
  let count = 0;
  return (fields) => ({ id: `${owner}#${++count}`, at: now(), owner, ...fields });
}

/**
 * Delivers events to listeners in order. A listener that throws is reported as a process warning
 * and never breaks the operation that emitted the event.
 */
export class EventBus {
  readonly #listeners = new Set<EventListener>();

  on(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get hasListeners(): boolean {
    return this.#listeners.size > 0;
  }

  emit(events: readonly LedgerEventInput[]): void {
    for (const event of events) {
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (error) {
          process.emitWarning(`durable-tools event listener threw: ${String(error)}`, "DurableToolsWarning");
        }
      }
    }
  }
}

export interface JsonlSink {
  listener: EventListener;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/**
 * Appends every event as one JSON line, for shipping audit logs or feeding evals. Given a path, it
 * opens the file itself: if the file cannot be opened or written, it warns once
 * (`DurableToolsWarning`), drops the events after that, and `close()` rejects with the error (an
 * audit sink must not bring down the process that records side effects). A stream passed in stays
 * the caller's, errors included.
 */
export function jsonlSink(target: string | NodeJS.WritableStream): JsonlSink {
  if (typeof target !== "string") {
    return {
      listener: (event) => {
        target.write(`${JSON.stringify(event)}\n`);
      },
      close: async () => undefined,
    };
  }
  const stream = createWriteStream(target, { flags: "a", encoding: "utf8" });
  let failure: Error | undefined;
  let closing = false;
  stream.on("error", (error) => {
    if (failure !== undefined) return;
    failure = error;
    process.emitWarning(
      `durable-tools jsonlSink could not write ${target}: ${error.message}; later events are dropped`,
      "DurableToolsWarning",
    );
  });
  return {
    // An event after close() (a late lease or confirmation event) is dropped, not written to a
    // stream that is ending.
    listener: (event) => {
      if (failure === undefined && !closing) stream.write(`${JSON.stringify(event)}\n`);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true;
        // The file is closed once the stream says so, after its last write or after an error.
        const settle = () => (failure === undefined ? resolve() : reject(failure));
        if (stream.closed || stream.destroyed) return settle();
        stream.once("close", settle);
        if (!stream.writableEnded) stream.end();
      }),
  };
}
