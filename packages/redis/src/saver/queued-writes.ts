/**
 * Task writes waiting, per thread, to ride with the thread's next checkpoint write.
 *
 * Under durability "sync", LangGraph calls `putWrites` for a task and, in the same turn of the event
 * loop, `put` for the checkpoint those writes lead to, and starts no further step until both are
 * acknowledged. Sent apart they cost two round trips; queued here, they go out inside the put's
 * script: one round trip, and writes and checkpoint land atomically, writes first. A batch that no
 * put takes before the event loop's next check phase (`setImmediate`) is sent on its own, once all
 * of its writes are serialized: a lone `putWrites` (the input's writes, or a task whose siblings
 * still run) waits one loop turn, and for any write of its batch still being serialized.
 *
 * Other writes are sent as soon as they are serialized (`send` right after `add`): under "async" the
 * next node may start before the put, and a task's writes in Redis are what keeps LangGraph from
 * running a finished node again after a crash, so they must not wait for it.
 *
 * Batches of a thread are handed to the client in the order they were taken, whichever finishes
 * serializing first, so Redis stores a thread's writes in call order (first write wins for a task's
 * regular channels, the last for its special ones, as in MemorySaver).
 *
 * A write joins its thread's batch when `putWrites` is called, before its values are serialized, so
 * a read or a delete of the thread made after that call comes after the write, whichever finishes
 * serializing first. Every `putWrites` promise settles with the command that carried its writes: it
 * resolves only once they are stored in Redis.
 */

export type WriteArg = string | Buffer;

interface QueuedWrite {
  /** The write's (field, value, overwrite) triples, once serialized. */
  encoded: Promise<WriteArg[]>;
  /** What its putWrites caller awaits: settled once the write is stored, or has failed. */
  stored: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/** A batch taken to go out with a command of the thread. */
interface TakenWrites {
  /** The triples of the batch's writes, in call order (a write that failed to serialize is left out). */
  args: WriteArg[];
  /** Settles every write in `args` with the outcome of the command that carried them. */
  settle(outcome: Promise<unknown>): void;
}

export class QueuedWrites {
  readonly #batches = new Map<string, QueuedWrite[]>();
  /** Per thread, settled once the batch taken last has been handed to the client (or had nothing to send). */
  readonly #issued = new Map<string, Promise<void>>();
  /** Per thread, batches taken whose writes have not all settled yet. */
  readonly #landing = new Map<string, Set<Promise<unknown>>>();
  readonly #storeAlone: (threadId: string, args: WriteArg[]) => Promise<unknown>;

  /** `storeAlone` stores a batch no put took (the putWrites script). */
  constructor(storeAlone: (threadId: string, args: WriteArg[]) => Promise<unknown>) {
    this.#storeAlone = storeAlone;
  }

  /** Queues one task's writes (their triples, being serialized); resolves once they are stored. */
  add(threadId: string, encoded: Promise<WriteArg[]>): Promise<void> {
    let batch = this.#batches.get(threadId);
    if (batch === undefined) {
      const created: QueuedWrite[] = [];
      this.#batches.set(threadId, created);
      setImmediate(() => {
        if (this.#batches.get(threadId) === created) void this.flush(threadId);
      });
      batch = created;
    }
    encoded.catch(() => undefined); // a serializer's error reaches the caller when its batch is taken
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const stored = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    batch.push({ encoded, stored, resolve, reject });
    return stored;
  }

  /**
   * Runs a command of the thread that carries the writes queued for it before this call: `prepare`
   * builds the command (serializing what it sends), which then gets the writes as script arguments
   * (their triple count, then the triples). The writes settle with the command's outcome; if
   * `prepare` fails, they go out on their own instead.
   */
  async carry<T>(
    threadId: string,
    prepare: () => Promise<(writeArgs: WriteArg[]) => Promise<T>>,
  ): Promise<T> {
    const taken = this.#take(threadId); // leaves the queue now: later writes wait for a later command
    let send: (writeArgs: WriteArg[]) => Promise<T>;
    try {
      send = await prepare();
    } catch (error) {
      void this.#sendAlone(threadId, taken);
      throw error;
    }
    const writes = await taken;
    const sent = attempt(() =>
      send(writes === undefined ? ["0"] : [String(writes.args.length / 3), ...writes.args]),
    );
    writes?.settle(sent);
    return sent;
  }

  /** Sends the thread's queued writes on their own, as soon as they are serialized. */
  send(threadId: string): void {
    void this.#sendAlone(threadId, this.#take(threadId));
  }

  /**
   * Sends the thread's queued writes on their own now, and resolves once every write of the thread
   * queued before this call is stored or has failed, whichever command carries it (a failure is
   * reported to its own putWrites caller, not here). For reads and deletes of the thread.
   */
  async flush(threadId: string): Promise<void> {
    this.send(threadId);
    const landing = this.#landing.get(threadId);
    if (landing !== undefined) await Promise.allSettled([...landing]);
  }

  /**
   * Takes the thread's queued writes (none: undefined) to send inside a command of the thread. They
   * leave the queue at once (and are landing until they settle); the wait is for their serialization
   * and for the thread's batch taken before them to be handed to the client.
   */
  async #take(threadId: string): Promise<TakenWrites | undefined> {
    const batch = this.#batches.get(threadId);
    if (batch === undefined) return undefined;
    this.#batches.delete(threadId);
    this.#trackLanding(threadId, Promise.allSettled(batch.map((write) => write.stored)));
    const before = this.#issued.get(threadId);
    let markIssued!: () => void;
    const issued = new Promise<void>((resolve) => {
      markIssued = () => {
        if (this.#issued.get(threadId) === issued) this.#issued.delete(threadId);
        resolve();
      };
    });
    this.#issued.set(threadId, issued);
    const encodings = await Promise.allSettled(batch.map((write) => write.encoded));
    await before;
    const carried: QueuedWrite[] = [];
    const args: WriteArg[] = [];
    encodings.forEach((encoding, i) => {
      const write = batch[i] as QueuedWrite;
      if (encoding.status === "rejected") {
        write.reject(encoding.reason);
        return;
      }
      carried.push(write);
      for (const arg of encoding.value) args.push(arg);
    });
    if (carried.length === 0) {
      markIssued();
      return undefined;
    }
    return {
      args,
      // Called right after the command carrying the writes was handed to the client.
      settle: (outcome) => {
        markIssued();
        outcome.then(
          () => {
            for (const write of carried) write.resolve();
          },
          (error: unknown) => {
            for (const write of carried) write.reject(error);
          },
        );
      },
    };
  }

  async #sendAlone(threadId: string, taken: Promise<TakenWrites | undefined>): Promise<void> {
    const writes = await taken;
    if (writes === undefined) return;
    writes.settle(attempt(() => this.#storeAlone(threadId, writes.args)));
  }

  #trackLanding(threadId: string, settled: Promise<unknown>): void {
    let landing = this.#landing.get(threadId);
    if (landing === undefined) {
      landing = new Set();
      this.#landing.set(threadId, landing);
    }
    const set = landing;
    set.add(settled);
    void settled.then(() => {
      set.delete(settled);
      if (set.size === 0 && this.#landing.get(threadId) === set) this.#landing.delete(threadId);
    });
  }
}

/** `call()`, with a synchronous throw turned into a rejection. */
function attempt<T>(call: () => Promise<T>): Promise<T> {
  try {
    return call();
  } catch (error) {
    return Promise.reject(error);
  }
}
