import {
  assertPath,
  type ClaimRequest,
  type ClaimResult,
  codeEvent,
  codeRecord,
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
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { metaJson, outJson, parseRecordFields } from "./record-hash.js";
import {
  CLAIM_SCRIPT,
  RECORD_FIELDS,
  RELEASE_SCRIPT,
  RENEW_SCRIPT,
  TAKEOVER_SCRIPT,
  TRANSITION_SCRIPT,
} from "./scripts.js";
import { EVENTS_PER_ENTRY, entryValue, eventsOfEntry, streamIdOfSeq } from "./stream-ids.js";

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
  /** How long the event stream of a released operation is kept. Default 7 days. */
  releasedEventsTtlMs?: number;
}

type Client = Redis | Cluster;
type ScriptReply = (string | null)[];
type Script = (rec: string, ev: string, ...argv: (string | number)[]) => Promise<ScriptReply>;

interface ScriptedClient {
  dtClaimV2: Script;
  dtTakeoverV2: Script;
  dtTransitionV2: Script;
  dtRenewV2: Script;
  dtReleaseV2: Script;
}

/**
 * The ledger on plain Redis 6.2+/7, Valkey or Redis Cluster (no modules). Every state change is one
 * Lua script (EVALSHA after the first call) that applies the guard, writes the record hash and appends
 * the change's events to the operation's stream, atomically: the record and its audit trail (an outbox)
 * commit together. The record and stream of one operation share a hash tag, so each script touches
 * one cluster slot.
 */
export class RedisLedgerStore implements LedgerStore {
  readonly client: Client;
  readonly #scripts: ScriptedClient;
  readonly #prefix: string;
  readonly #codec: RecordCodec | undefined;
  readonly #timeoutMs: number;
  readonly #releasedEventsTtlMs: number;
  readonly #ownsClient: boolean;

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
    this.#releasedEventsTtlMs = positiveInteger(
      "releasedEventsTtlMs",
      options.releasedEventsTtlMs ?? 7 * 24 * 3600 * 1000,
    );
    const define = (name: string, lua: string) => {
      if (!(name in client)) client.defineCommand(name, { numberOfKeys: 2, lua });
    };
    define("dtClaimV2", CLAIM_SCRIPT);
    define("dtTakeoverV2", TAKEOVER_SCRIPT);
    define("dtTransitionV2", TRANSITION_SCRIPT);
    define("dtRenewV2", RENEW_SCRIPT);
    define("dtReleaseV2", RELEASE_SCRIPT);
    this.#scripts = client as unknown as ScriptedClient;
  }

  /** Connects to `redis://` / `rediss://` and owns the connection (`close()` quits it). */
  static fromUrl(
    url: string,
    options: RedisLedgerStoreOptions & { redis?: RedisOptions } = {},
  ): RedisLedgerStore {
    const timeout = options.operationTimeoutMs ?? 2000;
    const client = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: timeout, ...options.redis });
    return new RedisLedgerStore(client, options, true);
  }

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    // The record a create would make (validates the initial path); only its token comes from Redis.
    const fresh = newRecord(request, 0);
    const args = request.args === undefined ? undefined : this.#encodeValue(request.args, request.key);
    const meta = metaJson({ ...request, args, createdAt: request.now });
    const reply = await this.#run("claim", () =>
      this.#scripts.dtClaimV2(
        ...this.#keys(request.key),
        request.now,
        request.fingerprint,
        request.owner,
        request.leaseMs,
        fresh.state,
        request.initialAttempt,
        meta,
        this.#entry(request.events),
      ),
    );
    const outcome = reply[0] as ClaimResult["outcome"] | "expired";
    if (outcome === "expired") return this.#takeOver(request, reply);
    if (outcome === "created") return { outcome, record: { ...fresh, fencingToken: Number(reply[1]) } };
    return { outcome: "existing", record: this.#record(reply, 2, request.key) };
  }

  /** The second step of a claim that found an expired lease: take it over unless someone was faster. */
  async #takeOver(request: ClaimRequest, seen: readonly (string | null)[]): Promise<ClaimResult> {
    const reply = await this.#run("claim", () =>
      this.#scripts.dtTakeoverV2(
        ...this.#keys(request.key),
        request.now,
        request.fingerprint,
        request.owner,
        request.leaseMs,
        seen[2 + RECORD_FIELDS.indexOf("tk")] ?? "",
        this.#entry(request.takeoverEvents),
      ),
    );
    if (reply[0] === "missing") return this.claim(request); // released in between: claim afresh
    const record = this.#record(reply, 2, request.key);
    if (reply[0] === "taken_over") return { outcome: "taken_over", record, previousOwner: reply[1] || null };
    return { outcome: "existing", record };
  }

  async transition(request: TransitionRequest): Promise<OperationRecord> {
    const to = assertPath(request.from, request.path);
    const terminal = isTerminal(to);
    const { patch } = request;
    const result = patch.result === undefined ? undefined : this.#encodeValue(patch.result, request.key);
    const lease =
      patch.leaseExpiresAt === undefined
        ? ""
        : patch.leaseExpiresAt === null
          ? "-"
          : String(patch.leaseExpiresAt);
    const reply = await this.#run("transition", () =>
      this.#scripts.dtTransitionV2(
        ...this.#keys(request.key),
        request.now,
        request.owner,
        String(request.fencingToken),
        request.from,
        to,
        patch.attempt === undefined ? "" : String(patch.attempt),
        lease,
        terminal ? "1" : "0",
        terminal && patch.expiresAt != null ? String(patch.expiresAt) : "",
        outJson({ result, error: patch.error, effect: patch.effect, reason: patch.reason }),
        this.#entry(request.events),
      ),
    );
    return this.#guardedRecord(reply, request);
  }

  async renewLease(request: RenewLeaseRequest): Promise<OperationRecord> {
    const reply = await this.#run("renewLease", () =>
      this.#scripts.dtRenewV2(
        ...this.#keys(request.key),
        request.now,
        request.owner,
        String(request.fencingToken),
        request.leaseExpiresAt,
      ),
    );
    return this.#guardedRecord(reply, request);
  }

  async release(request: ReleaseRequest): Promise<void> {
    const reply = await this.#run("release", () =>
      this.#scripts.dtReleaseV2(
        ...this.#keys(request.key),
        request.owner,
        String(request.fencingToken),
        this.#entry(request.events),
        this.#releasedEventsTtlMs,
      ),
    );
    this.#throwGuard(reply, request);
  }

  async get(key: string): Promise<OperationRecord | undefined> {
    const values = await this.#run("get", () => this.client.hmget(this.#keys(key)[0], ...RECORD_FIELDS));
    return values[0] === null ? undefined : this.#record(values, 0, key);
  }

  /** Scans every record (on every master of a cluster): meant for worker start-up, not for each call. */
  async listInDoubt(options: ListInDoubtOptions): Promise<OperationRecord[]> {
    const found: OperationRecord[] = [];
    for (const recordKey of await this.#scan(`${this.#prefix}:{*}:rec`)) {
      const values = await this.#run("listInDoubt", () => this.client.hmget(recordKey, ...RECORD_FIELDS));
      const record = parseRecordFields(values);
      if (record && isInDoubtCandidate(record, options.now, options.includeUnfinished ?? false))
        found.push(record);
    }
    found.sort((a, b) => a.updatedAt - b.updatedAt);
    return found
      .slice(0, options.limit ?? found.length)
      .map((record) => codeRecord(record, this.#codec, "decode"));
  }

  async appendEvents(events: readonly LedgerEventInput[]): Promise<void> {
    const byKey = new Map<string, LedgerEventInput[]>();
    for (const event of events) byKey.set(event.key, [...(byKey.get(event.key) ?? []), event]);
    // One XADD per entry: a pipeline would have to stay within one cluster slot.
    const writes: Promise<unknown>[] = [];
    for (const [key, ofKey] of byKey) {
      for (let i = 0; i < ofKey.length; i += EVENTS_PER_ENTRY) {
        const entry = this.#entry(ofKey.slice(i, i + EVENTS_PER_ENTRY));
        writes.push(this.client.xadd(this.#keys(key)[1], "*", "e", entry));
      }
    }
    await this.#run("appendEvents", () => Promise.all(writes));
  }

  /**
   * With `key`: that operation's events in append order, `seq` strictly increasing. Without: every
   * operation's events (a scan), ordered by `seq` then key; `seq` comes from each stream's entry id,
   * so it orders events across keys by time but is unique only per key.
   */
  async readEvents(options: ReadEventsOptions = {}): Promise<LedgerEvent[]> {
    const streams =
      options.key === undefined ? await this.#scan(`${this.#prefix}:{*}:ev`) : [this.#keys(options.key)[1]];
    const after = options.afterSeq;
    const start = after === undefined ? "-" : streamIdOfSeq(after);
    const events: LedgerEvent[] = [];
    for (const stream of streams) {
      const key = stream.slice(this.#prefix.length + 2, -"}:ev".length);
      const entries = await this.#run("readEvents", () => this.client.xrange(stream, start, "+"));
      for (const [id, fields] of entries) {
        for (const event of eventsOfEntry(id, fields, key)) {
          if (after === undefined || event.seq > after) events.push(codeEvent(event, this.#codec, "decode"));
        }
      }
    }
    if (options.key === undefined) events.sort((a, b) => a.seq - b.seq || a.key.localeCompare(b.key));
    return events.slice(0, options.limit ?? events.length);
  }

  async close(): Promise<void> {
    if (this.#ownsClient) await this.client.quit();
  }

  // --- helpers ---------------------------------------------------------------------------------

  /** The record hash and event stream of one operation: one hash tag, so one cluster slot. */
  #keys(key: string): [string, string] {
    const tagged = `${this.#prefix}:{${key}}`;
    return [`${tagged}:rec`, `${tagged}:ev`];
  }

  /** One stream entry holding a state change's events (at most EVENTS_PER_ENTRY); "" for none. */
  #entry(events: readonly LedgerEventInput[]): string {
    if (events.length === 0) return "";
    if (events.length > EVENTS_PER_ENTRY) {
      throw new InvalidConfigurationError(
        `A state change can carry at most ${EVENTS_PER_ENTRY} events in the Redis store, got ${events.length}.`,
      );
    }
    return entryValue(events.map((event) => codeEvent(event, this.#codec, "encode")));
  }

  #encodeValue<T>(value: T, key: string): T {
    return this.#codec === undefined ? value : (this.#codec.encode(value as never, key) as T);
  }

  #record(reply: readonly (string | null)[], offset: number, key: string): OperationRecord {
    const record = parseRecordFields(reply, offset);
    if (record === undefined) throw new RecordNotFoundError(key);
    return codeRecord(record, this.#codec, "decode");
  }

  /** The record a guarded script returned, or the typed error its guard reported. */
  #guardedRecord(reply: readonly (string | null)[], request: Fence & { from?: string }): OperationRecord {
    this.#throwGuard(reply, request);
    return this.#record(reply, 2, request.key);
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

  async #scan(pattern: string): Promise<string[]> {
    const nodes = this.client instanceof Cluster ? this.client.nodes("master") : [this.client];
    const keys: string[] = [];
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, batch] = await this.#run("scan", () =>
          node.scan(cursor, "MATCH", pattern, "COUNT", 500),
        );
        cursor = next;
        keys.push(...batch);
      } while (cursor !== "0");
    }
    return keys;
  }

  /** Runs one store call with a deadline; anything but a durable-tools error is `LedgerUnavailableError`. */
  async #run<T>(what: string, call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#timeoutMs} ms (operationTimeoutMs)`)),
        this.#timeoutMs,
      );
    });
    try {
      return await Promise.race([call(), deadline]);
    } catch (error) {
      if (isDurableToolsError(error)) throw error;
      throw new LedgerUnavailableError(`Redis ledger ${what} failed: ${messageOf(error)}`, error);
    } finally {
      clearTimeout(timer);
    }
  }
}
