import {
  assertKeyPrefix,
  assertPath,
  type ClaimRequest,
  type ClaimResult,
  codeEvent,
  codeRecord,
  decideClaim,
  type Fence,
  InvalidConfigurationError,
  isDurableToolsError,
  isInDoubtCandidate,
  isTerminal,
  type LedgerEvent,
  type LedgerEventInput,
  type LedgerStore,
  LedgerUnavailableError,
  type ListInDoubtOptions,
  messageOf,
  newRecord,
  type OperationRecord,
  positiveInteger,
  type ReadEventsOptions,
  type RecordCodec,
  RecordNotFoundError,
  type ReleaseRequest,
  type RenewLeaseRequest,
  StaleOwnerError,
  type TransitionRequest,
} from "@durable-tools/core";
import { type Cluster, Redis, type RedisOptions } from "ioredis";
import { warnOncePerOutage } from "./connection-warnings.js";
import { defineScripts } from "./define-scripts.js";
import { RecentKeys } from "./recent-keys.js";
import {
  type CreationContext,
  creationContext,
  lineSafe,
  outLine,
  parseRecordText,
  recordText,
} from "./record-text.js";
import { globEscape, scanKeys } from "./scan-keys.js";
import { APPEND_SCRIPT, CLAIM_SCRIPT, RELEASE_SCRIPT, RENEW_SCRIPT, TRANSITION_SCRIPT } from "./scripts.js";
import {
  EVENTS_PER_CHANGE,
  entryValue,
  eventsOfEntries,
  eventsOfEntry,
  pendingEntryId,
  storeTime,
  streamIdOfSeq,
} from "./stream-ids.js";

export interface RedisLedgerStoreOptions {
  /** Prefix of every key the store writes. Default `dt`. */
  prefix?: string;
  /** An extra namespace segment (e.g. a tenant or environment) after the prefix. */
  namespace?: string;
  /** Encrypts (or otherwise transforms) arguments, results and event data at rest. */
  codec?: RecordCodec;
  /**
   * Longest a store call may take before it fails with `LedgerUnavailableError` (fail closed: a claim
   * that times out runs no side effect). Default 2000 ms.
   */
  operationTimeoutMs?: number;
  /**
   * How long the event stream of a released operation is kept. Default 7 days. A later run of the same
   * key that writes events to it makes it permanent again (its record governs it from then on).
   */
  releasedEventsTtlMs?: number;
  /**
   * How a claim reaches Redis. `"native"` (the default): one `SET NX GET`, no script, so a replay costs
   * what a GET costs; it needs Redis 7+ or Valkey, and the store switches to `"script"` by itself when
   * the server refuses it (Redis 6.2). `"script"`: one Lua script per claim.
   */
  claimWith?: "native" | "script";
  /**
   * How many operation keys this process remembers having seen in Redis. Claiming a remembered key
   * starts with a plain GET instead of sending a whole new record, which makes a replay about a fifth
   * cheaper; Redis still decides every outcome, and a key that has gone meanwhile costs one extra
   * round trip. Default 10,000 (about 1 MB); 0 turns it off.
   */
  rememberKeys?: number;
}

type Client = Redis | Cluster;
type ScriptReply = (string | null)[];
type Script = (
  rec: string,
  ev: string,
  scratch: string,
  ...argv: (string | number)[]
) => Promise<ScriptReply>;

interface ScriptedClient {
  dtClaimV6: Script;
  dtTransitionV7: Script;
  dtRenewV7: Script;
  dtReleaseV7: Script;
  dtAppendV7: Script;
}

/**
 * The ledger on plain Redis 6.2+/7, Valkey or Redis Cluster (no modules). A claim is one `SET NX GET`;
 * every other state change is one Lua script (EVALSHA after the first call) that applies the guard,
 * rewrites the record and appends the change's events to the operation's stream, atomically: the
 * record and its audit trail (an outbox) commit together. A new record carries its creation events in
 * itself until the next change writes them to the stream, so they commit with it too. The record and
 * stream of one operation share a hash tag, so every command touches one cluster slot.
 */
export class RedisLedgerStore implements LedgerStore {
  readonly client: Client;
  readonly #scripts: ScriptedClient;
  readonly #prefix: string;
  readonly #codec: RecordCodec | undefined;
  readonly #timeoutMs: number;
  /** As the release script takes it: text, made once. */
  readonly #releasedEventsTtlMs: string;
  readonly #ownsClient: boolean;
  #nativeClaim: boolean;
  readonly #recent: RecentKeys;

  constructor(client: Client, options: RedisLedgerStoreOptions = {}, ownsClient = false) {
    if (typeof (client as { defineCommand?: unknown } | undefined)?.defineCommand !== "function") {
      throw new InvalidConfigurationError("RedisLedgerStore needs an ioredis Redis or Cluster instance.");
    }
    this.client = client;
    this.#ownsClient = ownsClient;
    this.#prefix = [
      options.prefix ?? "dt",
      ...(options.namespace === undefined ? [] : [options.namespace]),
    ].join(":");
    this.#codec = options.codec;
    this.#timeoutMs = positiveInteger("operationTimeoutMs", options.operationTimeoutMs ?? 2000);
    this.#releasedEventsTtlMs = String(
      positiveInteger("releasedEventsTtlMs", options.releasedEventsTtlMs ?? 7 * 24 * 3600 * 1000),
    );
    const claimWith = options.claimWith ?? "native";
    if (claimWith !== "native" && claimWith !== "script") {
      throw new InvalidConfigurationError(
        `claimWith must be "native" or "script", got ${String(claimWith)}.`,
      );
    }
    this.#nativeClaim = claimWith === "native";
    const rememberKeys = options.rememberKeys ?? 10_000;
    if (!Number.isInteger(rememberKeys) || rememberKeys < 0) {
      throw new InvalidConfigurationError(
        `rememberKeys must be a whole number of keys (0 turns it off), got ${rememberKeys}.`,
      );
    }
    this.#recent = new RecentKeys(rememberKeys);
    this.#scripts = defineScripts<ScriptedClient>(client, 3, {
      dtClaimV6: CLAIM_SCRIPT,
      dtTransitionV7: TRANSITION_SCRIPT,
      dtRenewV7: RENEW_SCRIPT,
      dtReleaseV7: RELEASE_SCRIPT,
      dtAppendV7: APPEND_SCRIPT,
    });
  }

  /** Connects to `redis://` / `rediss://` and owns the connection (`close()` quits it). */
  static fromUrl(
    url: string,
    options: RedisLedgerStoreOptions & { redis?: RedisOptions } = {},
  ): RedisLedgerStore {
    const timeout = options.operationTimeoutMs ?? 2000;
    const client = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: timeout, ...options.redis });
    warnOncePerOutage(client, "RedisLedgerStore.fromUrl");
    return new RedisLedgerStore(client, options, true);
  }

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    checkClaim(request);
    const [rec] = this.#keys(request.key);
    // One deadline for the whole claim, however many round trips it takes (a key seen before: a GET,
    // then SET NX GET, then the script); each round trip waits only for what is left of it, so one that
    // times out stops the claim before its next write.
    const deadline = Date.now() + this.#timeoutMs;
    const claimed = this.#recent.has(request.key)
      ? await this.#claimSeenKey(rec, request, deadline)
      : await this.#claimNewKey(rec, request, deadline);
    this.#recent.add(request.key);
    return claimed;
  }

  /**
   * A key seen before: likely a replay, so a GET first, and nothing of a new record is built (a
   * caller may compute its arguments only when asked); the usual claim if the record has gone.
   */
  async #claimSeenKey(rec: string, request: ClaimRequest, deadline: number): Promise<ClaimResult> {
    const existing = await this.#run("claim", () => this.client.get(rec), deadline);
    if (existing === null) return this.#claimNewKey(rec, request, deadline);
    return (
      this.#existing(existing, request) ??
      this.#claimByScript(request, this.#stored(request).stored, deadline)
    );
  }

  async #claimNewKey(rec: string, request: ClaimRequest, deadline: number): Promise<ClaimResult> {
    const { fresh, stored } = this.#stored(request);
    if (this.#nativeClaim) {
      const text = recordText(stored, this.#entry(request.events, creationContext(stored)));
      const existing = await this.#run("claim", () => this.#setIfAbsent(rec, text), deadline);
      // Our own text: ioredis sent the SET again after the connection dropped before its reply
      // (autoResendUnfulfilledCommands), and the first one created the record. Owner ids are unique
      // per run, so no other claim's text is the same. Its last line (the pending creation events) may
      // have gone to the stream meanwhile (another caller's append): the other lines decide.
      if (existing === null) return { outcome: "created", record: fresh };
      if (existing !== undefined) {
        if (sameButPending(existing, text)) return { outcome: "created", record: fresh };
        const result = this.#existing(existing, request);
        if (result !== undefined) return result;
      }
    }
    return this.#claimByScript(request, stored, deadline);
  }

  /**
   * The claim's result when the store rules leave a record that exists as it is; undefined when they
   * replace an expired record or take over a lease, which needs the guard in Redis: the script.
   */
  #existing(text: string, request: ClaimRequest): ClaimResult | undefined {
    const { record } = parseRecordText(text, request.key);
    if (decideClaim(record, request).outcome !== "existing") return undefined;
    return { outcome: "existing", record: codeRecord(record, this.#codec, "decode") };
  }

  /**
   * The record a create makes (`fresh`: validates the initial path; only a replacement's token comes
   * from Redis), and the same as stored: its arguments through the codec.
   */
  #stored(request: ClaimRequest): { fresh: OperationRecord; stored: OperationRecord } {
    const fresh = newRecord(request, 0);
    const stored =
      fresh.args === undefined
        ? fresh
        : { ...fresh, args: this.#encodeValue(fresh.args, request.key, "args") };
    return { fresh, stored };
  }

  /** `SET NX GET`: null when it created the record, the current text when not; undefined on Redis 6.2. */
  async #setIfAbsent(rec: string, text: string): Promise<string | null | undefined> {
    try {
      return await this.client.set(rec, text, "NX", "GET");
    } catch (error) {
      // Redis 6.2 knows GET but refuses it with NX: claim by script from now on.
      if (/syntax error/i.test(messageOf(error))) {
        this.#nativeClaim = false;
        return undefined;
      }
      throw error;
    }
  }

  async #claimByScript(
    request: ClaimRequest,
    stored: OperationRecord,
    deadline: number,
  ): Promise<ClaimResult> {
    const reply = await this.#run(
      "claim",
      () =>
        this.#scripts.dtClaimV6(
          ...this.#keys(request.key),
          request.now,
          request.fingerprint,
          request.owner,
          String(request.now + request.leaseMs),
          recordText(stored, ""),
          this.#entry(request.events),
          this.#entry(request.takeoverEvents),
        ),
      deadline,
    );
    const outcome = reply[0] as ClaimResult["outcome"];
    const record = this.#record(reply[1], request.key);
    if (outcome === "taken_over") return { outcome, record, previousOwner: reply[2] || null };
    return { outcome, record };
  }

  async transition(request: TransitionRequest): Promise<OperationRecord> {
    const to = assertPath(request.from, request.path);
    const terminal = isTerminal(to);
    const { patch } = request;
    const now = storeTime("transition's now", request.now);
    const lease =
      patch.leaseExpiresAt === undefined
        ? ""
        : patch.leaseExpiresAt === null
          ? "-"
          : finite("transition's leaseExpiresAt", patch.leaseExpiresAt);
    const attempt = patch.attempt === undefined ? "" : finite("transition's attempt", patch.attempt);
    const expires = terminal && patch.expiresAt != null ? patch.expiresAt : undefined;
    const [expiresText, ttl] = expires === undefined ? ["", ""] : ttlOf(expires, now);
    const result =
      patch.result === undefined ? undefined : this.#encodeValue(patch.result, request.key, "result");
    const out = outLine({ result, error: patch.error, effect: patch.effect, reason: patch.reason });
    const reply = await this.#run("transition", () =>
      this.#scripts.dtTransitionV7(
        ...this.#keys(request.key),
        now,
        request.owner,
        String(request.fencingToken),
        request.from,
        to,
        attempt,
        lease,
        terminal ? "1" : "0",
        expiresText,
        out.json,
        this.#entry(request.events),
        ttl,
        out.names,
      ),
    );
    return this.#guardedRecord(reply, request);
  }

  async renewLease(request: RenewLeaseRequest): Promise<OperationRecord> {
    const now = storeTime("renewLease's now", request.now);
    const leaseExpiresAt = finite("renewLease's leaseExpiresAt", request.leaseExpiresAt);
    const reply = await this.#run("renewLease", () =>
      this.#scripts.dtRenewV7(
        ...this.#keys(request.key),
        now,
        request.owner,
        String(request.fencingToken),
        leaseExpiresAt,
      ),
    );
    return this.#guardedRecord(reply, request);
  }

  async release(request: ReleaseRequest): Promise<void> {
    const reply = await this.#run("release", () =>
      this.#scripts.dtReleaseV7(
        ...this.#keys(request.key),
        request.owner,
        String(request.fencingToken),
        this.#entry(request.events),
        this.#releasedEventsTtlMs,
      ),
    );
    this.#throwGuard(reply, request);
    this.#recent.delete(request.key);
  }

  async get(key: string): Promise<OperationRecord | undefined> {
    const text = await this.#run("get", () => this.client.get(this.#keys(key)[0]));
    return text === null ? undefined : this.#record(text, key);
  }

  /** Scans every record (on every master of a cluster): meant for worker start-up, not for each call. */
  async listInDoubt(options: ListInDoubtOptions): Promise<OperationRecord[]> {
    const found: OperationRecord[] = [];
    for (const recordKey of await this.#scan("", "}:rec")) {
      const key = this.#operationKeyOf(recordKey);
      const text = await this.#run("listInDoubt", () => this.client.get(recordKey));
      if (text === null) continue;
      const { record } = parseRecordText(text, key);
      if (isInDoubtCandidate(record, options.now, options.includeUnfinished ?? false)) found.push(record);
    }
    found.sort((a, b) => a.updatedAt - b.updatedAt);
    return found
      .slice(0, options.limit ?? found.length)
      .map((record) => codeRecord(record, this.#codec, "decode"));
  }

  async deleteByKeyPrefix(keyPrefix: string): Promise<number> {
    assertKeyPrefix(keyPrefix);
    const redisKeys = await this.#scan(keyPrefix, "");
    const doomed = redisKeys.filter((redisKey) => this.#operationKeyOf(redisKey).startsWith(keyPrefix));
    this.#recent.deleteByPrefix(keyPrefix);
    // One DEL per key: a multi-key DEL would have to stay within one cluster slot.
    await this.#run("deleteByKeyPrefix", () =>
      Promise.all(doomed.map((redisKey) => this.client.del(redisKey))),
    );
    return new Set(doomed.map((redisKey) => this.#operationKeyOf(redisKey))).size;
  }

  async appendEvents(events: readonly LedgerEventInput[]): Promise<void> {
    const byKey = new Map<string, LedgerEventInput[]>();
    for (const event of events) {
      const ofKey = byKey.get(event.key);
      if (ofKey === undefined) byKey.set(event.key, [event]);
      else ofKey.push(event);
    }
    // Every entry is built (and encoded) before the first is sent: an event the codec refuses fails
    // the call with nothing written, and no write is left in flight with no one awaiting it.
    const entries: [key: string, entry: string][] = [];
    for (const [key, ofKey] of byKey) {
      for (let i = 0; i < ofKey.length; i += EVENTS_PER_CHANGE) {
        entries.push([key, this.#entry(ofKey.slice(i, i + EVENTS_PER_CHANGE))]);
      }
    }
    await this.#run("appendEvents", () =>
      Promise.all(
        entries.map(([key, entry]) =>
          this.#scripts.dtAppendV7(...this.#keys(key), entry, this.#releasedEventsTtlMs),
        ),
      ),
    );
  }

  /**
   * With `key`: that operation's events in append order, `seq` strictly increasing. Without: every
   * operation's events (a scan), ordered by `seq` then key; `seq` comes from each stream's entry id,
   * so it orders events across keys by time but is unique only per key.
   */
  async readEvents(options: ReadEventsOptions = {}): Promise<LedgerEvent[]> {
    const keys =
      options.key === undefined
        ? new Set((await this.#scan("", "")).map((redisKey) => this.#operationKeyOf(redisKey)))
        : [options.key];
    const after = options.afterSeq;
    const events: LedgerEvent[] = [];
    for (const key of keys) {
      for (const event of await this.#eventsOf(key, after === undefined ? "-" : streamIdOfSeq(after))) {
        if (after === undefined || event.seq > after) events.push(codeEvent(event, this.#codec, "decode"));
      }
    }
    if (options.key === undefined) events.sort((a, b) => a.seq - b.seq || a.key.localeCompare(b.key));
    return events.slice(0, options.limit ?? events.length);
  }

  /**
   * One operation's events from `start` on: its stream, then the creation events its record still
   * holds, with the id they will be written under. Read in one MULTI, so a concurrent change cannot
   * make an entry appear twice or not at all.
   */
  async #eventsOf(key: string, start: string): Promise<LedgerEvent[]> {
    const [rec, ev] = this.#keys(key);
    const replies = await this.#run("readEvents", () =>
      this.client.multi().xrange(ev, start, "+").xrevrange(ev, "+", "-", "COUNT", 1).get(rec).exec(),
    );
    const [entries, last, text] = (replies ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [[string, string[]][], [string, string[]][], string | null];
    const current = text === null ? undefined : parseRecordText(text, key);
    const events = eventsOfEntries(entries, key, current?.record.args);
    if (current !== undefined) {
      const { record, pending } = current;
      if (pending !== "") {
        const id = pendingEntryId(record.createdAt, last[0]?.[0]);
        events.push(...eventsOfEntry(id, ["e", pending], key, creationContext(record)));
      }
    }
    return events;
  }

  async close(): Promise<void> {
    if (this.#ownsClient) await this.client.quit();
  }

  // --- helpers ---------------------------------------------------------------------------------

  /**
   * The record and event stream of one operation, and the scratch key its scripts copy a new stream
   * through (never left behind): one hash tag, so one cluster slot.
   */
  #keys(key: string): [record: string, stream: string, scratch: string] {
    const tagged = `${this.#prefix}:{${key}}`;
    return [`${tagged}:rec`, `${tagged}:ev`, `${tagged}:cp`];
  }

  /**
   * One stream entry holding a state change's events (at most EVENTS_PER_CHANGE); "" for none. With
   * `context`, creation events that leave out what their record holds.
   */
  #entry(events: readonly LedgerEventInput[], context?: CreationContext): string {
    if (events.length === 0) return "";
    if (events.length > EVENTS_PER_CHANGE) {
      throw new InvalidConfigurationError(
        `A state change can carry at most ${EVENTS_PER_CHANGE} events in the Redis store, got ${events.length}.`,
      );
    }
    return entryValue(
      events.map((event) => codeEvent(event, this.#codec, "encode")),
      context,
    );
  }

  /** A stored value through the codec, bound to its key and field (`codeRecord` decodes it so). */
  #encodeValue<T>(value: T, key: string, field: "args" | "result"): T {
    return this.#codec === undefined ? value : (this.#codec.encode(value as never, key, field) as T);
  }

  #record(text: string | null | undefined, key: string): OperationRecord {
    if (text === null || text === undefined) throw new RecordNotFoundError(key);
    return codeRecord(parseRecordText(text, key).record, this.#codec, "decode");
  }

  /** The operation key a record or stream key belongs to. */
  #operationKeyOf(redisKey: string): string {
    return redisKey.slice(this.#prefix.length + 2, redisKey.lastIndexOf("}:"));
  }

  /** The record a guarded script returned, or the typed error its guard reported. */
  #guardedRecord(reply: readonly (string | null)[], request: Fence & { from?: string }): OperationRecord {
    this.#throwGuard(reply, request);
    return this.#record(reply[1], request.key);
  }

  #throwGuard(
    reply: readonly (string | null)[],
    request: { key: string; owner: string; fencingToken: number; from?: string },
  ) {
    const status = reply[0];
    if (status === "ok") return;
    if (status === "not_found") throw new RecordNotFoundError(request.key);
    if (status === "state") {
      throw new StaleOwnerError(request.key, `state is ${reply[1]}, the writer expected ${request.from}`);
    }
    const owner = reply[1] === "" || reply[1] === undefined ? "nobody" : reply[1];
    throw new StaleOwnerError(
      request.key,
      `held by ${owner} with fencing token ${reply[2]}, write came from ${request.owner} with token ${request.fencingToken}`,
    );
  }

  /**
   * The Redis keys (on every master of a cluster) of the operations whose key starts with
   * `keyPrefix`, ending in `tail` (`}:rec` records, "" records and streams). Prefixes match literally.
   */
  async #scan(keyPrefix: string, tail: "}:rec" | ""): Promise<string[]> {
    const pattern = `${globEscape(this.#prefix)}:{${globEscape(keyPrefix)}*${tail}`;
    return scanKeys(this.client, pattern, 500, (call) => this.#run("scan", call));
  }

  /**
   * Runs one store call with a deadline (`operationTimeoutMs` from now, or what is left until
   * `deadlineAt`: nothing is sent once it has passed); anything but a durable-tools error is
   * `LedgerUnavailableError`.
   */
  async #run<T>(what: string, call: () => Promise<T>, deadlineAt?: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = () => new Error(`no answer within ${this.#timeoutMs} ms (operationTimeoutMs)`);
    const left = deadlineAt === undefined ? this.#timeoutMs : deadlineAt - Date.now();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut()), Math.max(0, left));
    });
    try {
      if (left <= 0) throw timedOut();
      return await Promise.race([call(), deadline]);
    } catch (error) {
      if (isDurableToolsError(error)) throw error;
      throw new LedgerUnavailableError(`Redis ledger ${what} failed: ${messageOf(error)}`, error);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * What a claim puts in the record, checked before anything is sent: the owner and fingerprint are
 * lines of the record text (and a settled record's empty owner line must match no writer), the clock
 * makes the events' stream ids.
 */
function checkClaim(request: ClaimRequest): void {
  if (request.owner === "") {
    throw new InvalidConfigurationError(
      'The Redis ledger cannot take a claim from an empty owner id: a settled record has no owner (an empty line), so writes from "" could pass its fence. Give each worker a non-empty owner id.',
    );
  }
  lineSafe("owner id", request.owner);
  lineSafe("fingerprint", request.fingerprint);
  storeTime("claim's now", request.now);
  finite("claim's leaseMs", request.leaseMs);
}

/** A number the scripts store or compare as text: finite (JavaScript writes others as words). */
function finite(what: string, value: number): string {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new InvalidConfigurationError(
      `The Redis ledger got ${what} = ${String(value)}: it must be a finite number.`,
    );
  }
  return String(value);
}

/**
 * The Redis TTL of a record settling at `now` that expires at `expiresAt`: whole milliseconds, at least
 * 1 (PX takes no fraction, and a script must not fail after writing), rounded up so Redis never
 * removes a record its caller's clock still counts as live.
 */
function ttlOf(expiresAt: number, now: number): [expiresAt: string, ttl: string] {
  const text = finite("transition's expiresAt", expiresAt);
  const ttl = Math.max(1, Math.ceil(expiresAt - now));
  if (!Number.isSafeInteger(ttl)) {
    throw new InvalidConfigurationError(
      `The Redis ledger got transition's expiresAt = ${expiresAt}, ${expiresAt - now} ms after its now: a Redis TTL can be at most ${Number.MAX_SAFE_INTEGER} ms.`,
    );
  }
  return [text, String(ttl)];
}

/** Two record texts equal but for their last line (the pending creation events). */
function sameButPending(a: string, b: string): boolean {
  const end = a.lastIndexOf("\n");
  return end === b.lastIndexOf("\n") && a.startsWith(b.slice(0, end));
}
