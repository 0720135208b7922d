import {
  assertPath,
  type ClaimRequest,
  type ClaimResult,
  codeEvent,
  codeRecord,
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
  type OperationRecord,
  type ReadEventsOptions,
  type RecordCodec,
  RecordNotFoundError,
  type ReleaseRequest,
  type RenewLeaseRequest,
  StaleOwnerError,
  type TransitionRequest,
} from "@durable-tools/core";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { creationFields, parseRecordHash, patchFields } from "./record-hash.js";
import { CLAIM_SCRIPT, RELEASE_SCRIPT, RENEW_SCRIPT, TRANSITION_SCRIPT } from "./scripts.js";
import { eventFromStream, seqFromStreamId, streamIdFromSeq } from "./stream-ids.js";

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
type ScriptReply = string[];

interface ScriptedClient {
  dtClaimV1(rec: string, ev: string, ...argv: (string | number)[]): Promise<ScriptReply>;
  dtTransitionV1(rec: string, ev: string, ...argv: (string | number)[]): Promise<ScriptReply>;
  dtRenewV1(rec: string, ev: string, ...argv: (string | number)[]): Promise<ScriptReply>;
  dtReleaseV1(rec: string, ev: string, ...argv: (string | number)[]): Promise<ScriptReply>;
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
    this.#timeoutMs = positive("operationTimeoutMs", options.operationTimeoutMs ?? 2000);
    this.#releasedEventsTtlMs = positive(
      "releasedEventsTtlMs",
      options.releasedEventsTtlMs ?? 7 * 24 * 3600 * 1000,
    );
    const define = (name: string, lua: string) => {
      if (!(name in client)) client.defineCommand(name, { numberOfKeys: 2, lua });
    };
    define("dtClaimV1", CLAIM_SCRIPT);
    define("dtTransitionV1", TRANSITION_SCRIPT);
    define("dtRenewV1", RENEW_SCRIPT);
    define("dtReleaseV1", RELEASE_SCRIPT);
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
    const state = request.initialPath.length === 0 ? "PENDING" : assertPath("PENDING", request.initialPath);
    const args = request.args === undefined ? undefined : this.#encodeValue(request.args, request.key);
    const created = this.#events(request.events);
    const takeover = this.#events(request.takeoverEvents);
    const fields = creationFields({ ...request, state, attempt: request.initialAttempt, args });
    const reply = await this.#run("claim", () =>
      this.#scripts.dtClaimV1(
        ...this.#keys(request.key),
        request.now,
        created.length,
        ...created,
        takeover.length,
        ...takeover,
        request.fingerprint,
        request.owner,
        request.leaseMs,
        ...fields,
      ),
    );
    const record = this.#record(reply, 2, request.key);
    const outcome = reply[0] as ClaimResult["outcome"];
    if (outcome === "taken_over")
      return { outcome, record, previousOwner: reply[1] === "" ? null : (reply[1] as string) };
    return { outcome, record };
  }

  async transition(request: TransitionRequest): Promise<OperationRecord> {
    const to = assertPath(request.from, request.path);
    const terminal = isTerminal(to);
    const patch = { ...request.patch };
    if (patch.result !== undefined) patch.result = this.#encodeValue(patch.result, request.key);
    const expiresAt = terminal && patch.expiresAt != null ? String(patch.expiresAt) : "";
    const events = this.#events(request.events);
    const reply = await this.#run("transition", () =>
      this.#scripts.dtTransitionV1(
        ...this.#keys(request.key),
        request.now,
        events.length,
        ...events,
        request.owner,
        String(request.fencingToken),
        request.from,
        to,
        terminal ? "1" : "0",
        expiresAt,
        ...patchFields(terminal ? { ...patch, leaseExpiresAt: undefined } : patch),
      ),
    );
    this.#throwGuard(reply, request);
    return this.#record(reply, 1, request.key);
  }

  async renewLease(request: RenewLeaseRequest): Promise<OperationRecord> {
    const reply = await this.#run("renewLease", () =>
      this.#scripts.dtRenewV1(
        ...this.#keys(request.key),
        request.now,
        0,
        request.owner,
        String(request.fencingToken),
        request.leaseExpiresAt,
      ),
    );
    this.#throwGuard(reply, request);
    return this.#record(reply, 1, request.key);
  }

  async release(request: ReleaseRequest): Promise<void> {
    const events = this.#events(request.events);
    const reply = await this.#run("release", () =>
      this.#scripts.dtReleaseV1(
        ...this.#keys(request.key),
        Date.now(),
        events.length,
        ...events,
        request.owner,
        String(request.fencingToken),
        this.#releasedEventsTtlMs,
      ),
    );
    this.#throwGuard(reply, request);
  }

  async get(key: string): Promise<OperationRecord | undefined> {
    const flat = await this.#run("get", () => this.client.hgetall(this.#keys(key)[0]));
    const list = Object.entries(flat).flat();
    return list.length === 0 ? undefined : this.#record(list, 0, key);
  }

  /** Scans every record (on every master of a cluster): meant for worker start-up, not for each call. */
  async listInDoubt(options: ListInDoubtOptions): Promise<OperationRecord[]> {
    const found: OperationRecord[] = [];
    for (const recordKey of await this.#scan(`${this.#prefix}:{*}:rec`)) {
      const flat = await this.#run("listInDoubt", () => this.client.hgetall(recordKey));
      const record = parseRecordHash(Object.entries(flat).flat());
      if (record && isInDoubtCandidate(record, options.now, options.includeUnfinished ?? false))
        found.push(record);
    }
    found.sort((a, b) => a.updatedAt - b.updatedAt);
    return found
      .slice(0, options.limit ?? found.length)
      .map((record) => codeRecord(record, this.#codec, "decode"));
  }

  async appendEvents(events: readonly LedgerEventInput[]): Promise<void> {
    if (events.length === 0) return;
    // One XADD per event: a pipeline would have to stay within one cluster slot.
    await this.#run("appendEvents", () =>
      Promise.all(
        events.map((event) =>
          this.client.xadd(this.#keys(event.key)[1], "*", "e", this.#events([event])[0] as string),
        ),
      ),
    );
  }

  /**
   * With `key`: that operation's events in append order, `seq` strictly increasing. Without: every
   * operation's events (a scan), ordered by `seq` then key; `seq` comes from each stream's entry id
   * (milliseconds x 1000 + sequence), so it orders events across keys by time but is unique only per key.
   */
  async readEvents(options: ReadEventsOptions = {}): Promise<LedgerEvent[]> {
    const streams =
      options.key === undefined ? await this.#scan(`${this.#prefix}:{*}:ev`) : [this.#keys(options.key)[1]];
    const start = options.afterSeq === undefined ? "-" : `(${streamIdFromSeq(options.afterSeq)}`;
    const events: LedgerEvent[] = [];
    for (const stream of streams) {
      const entries = await this.#run("readEvents", () => this.client.xrange(stream, start, "+"));
      for (const [id, fields] of entries) {
        const event = eventFromStream(fields, seqFromStreamId(id));
        events.push(codeEvent(event, this.#codec, "decode"));
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

  #events(events: readonly LedgerEventInput[]): string[] {
    return events.map((event) => JSON.stringify(codeEvent(event, this.#codec, "encode")));
  }

  #encodeValue<T>(value: T, key: string): T {
    return this.#codec === undefined ? value : (this.#codec.encode(value as never, key) as T);
  }

  #record(reply: readonly string[], offset: number, key: string): OperationRecord {
    const record = parseRecordHash(reply, offset);
    if (record === undefined) throw new RecordNotFoundError(key);
    return codeRecord(record, this.#codec, "decode");
  }

  #throwGuard(
    reply: readonly string[],
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

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new InvalidConfigurationError(
      `${name} must be a positive integer number of milliseconds, got ${value}.`,
    );
  }
  return value;
}
