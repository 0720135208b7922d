/**
 * The task writes of each thread still on their way to Redis, from the moment `putWrites` is called
 * (before its values are serialized) until Redis has answered. Reads and deletes of the thread wait
 * for them: a `getTuple` made after a `putWrites` call sees its writes, and a `deleteThread` cannot be
 * undone by a write landing after its UNLINK.
 */
export class WritesInFlight {
  readonly #byThread = new Map<string, Set<Promise<unknown>>>();

  /** Tracks `write` under the thread until it settles; returns it. */
  track<T>(threadId: string, write: Promise<T>): Promise<T> {
    let writes = this.#byThread.get(threadId);
    if (writes === undefined) {
      writes = new Set();
      this.#byThread.set(threadId, writes);
    }
    const ofThread = writes;
    ofThread.add(write);
    const forget = () => {
      ofThread.delete(write);
      if (ofThread.size === 0 && this.#byThread.get(threadId) === ofThread) this.#byThread.delete(threadId);
    };
    write.then(forget, forget);
    return write;
  }

  /** Resolves once every write of the thread tracked before this call is stored or has failed. */
  async settled(threadId: string): Promise<void> {
    const writes = this.#byThread.get(threadId);
    if (writes !== undefined) await Promise.allSettled([...writes]);
  }
}
