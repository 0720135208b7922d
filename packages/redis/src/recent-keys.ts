/**
 * Operation keys this process has recently seen held by a record in Redis, oldest first, at most
 * `limit` of them. A claim of such a key is most likely a replay, so RedisLedgerStore asks with a
 * plain GET (a few bytes) before it builds and sends a whole new record. It is a guess about which
 * command to send, never an answer: what Redis returns decides, and a key that turns out to be gone
 * is claimed the usual way.
 */
export class RecentKeys {
  readonly #limit: number;
  readonly #keys = new Set<string>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  has(key: string): boolean {
    return this.#keys.has(key);
  }

  add(key: string): void {
    if (this.#limit === 0 || this.#keys.has(key)) return;
    this.#keys.add(key);
    if (this.#keys.size > this.#limit) {
      // A Set iterates in insertion order: the first key is the oldest.
      this.#keys.delete(this.#keys.values().next().value as string);
    }
  }

  delete(key: string): void {
    this.#keys.delete(key);
  }

  /** Forgets the keys that start with `prefix`. */
  deleteByPrefix(prefix: string): void {
    for (const key of this.#keys) if (key.startsWith(prefix)) this.#keys.delete(key);
  }
}
