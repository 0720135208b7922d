import {
  applyTransition,
  assertFence,
  assertKeyPrefix,
  type ClaimRequest,
  type ClaimResult,
  codeEvent,
  codeRecord,
  decideClaim,
  InvalidConfigurationError,
  isDurableToolsError,
  isInDoubtCandidate,
  type LedgerEvent,
  type LedgerEventInput,
  type LedgerStore,
  LedgerUnavailableError,
  type ListInDoubtOptions,
  messageOf,
  type OperationRecord,
  type ReadEventsOptions,
  type RecordCodec,
  RecordCodecError,
  type ReleaseRequest,
  type RenewLeaseRequest,
  type TransitionRequest,
} from "@durable-tools/core";
import Database from "better-sqlite3";

export interface SqliteLedgerStoreOptions {
  /** Prefix of the tables this store creates (`<prefix>meta`, `<prefix>records`, `<prefix>events`). Default `dt_`. */
  tablePrefix?: string;
  /**
   * How long a write waits for another connection (or process) holding the write lock before it
   * fails with `LedgerUnavailableError`. Sets `PRAGMA busy_timeout`. Default 5000 ms.
   */
  busyTimeoutMs?: number;
  /** Transforms `args`, `result` and event `data` at rest (e.g. AES-256-GCM encryption). */
  codec?: RecordCodec;
}

/** The schema version this code writes; a file with a higher version is refused. */
export const SQLITE_SCHEMA_VERSION = 2;

/** Expired finished records (and their events) deleted by each write that creates a record. */
const PRUNED_PER_CLAIM = 16;

const DEFAULT_PREFIX = "dt_";
const DEFAULT_BUSY_TIMEOUT_MS = 5000;
const PREFIX_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Schema migrations: step `i` moves a file from version `i` to version `i + 1`. Append new steps;
 * never edit a released one. `{p}` is replaced by the table prefix.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE {p}records (
    key TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    fencing_token INTEGER NOT NULL,
    lease_expires_at INTEGER,
    expires_at INTEGER,
    updated_at INTEGER NOT NULL,
    record TEXT NOT NULL
  );
  CREATE INDEX {p}records_in_doubt ON {p}records (state, lease_expires_at);
  CREATE TABLE {p}events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    event TEXT NOT NULL
  );
  CREATE INDEX {p}events_key_seq ON {p}events (key, seq);
  `,
  // 2: finished records past their expiry are found by it and deleted (see PRUNED_PER_CLAIM).
  `
  CREATE INDEX {p}records_expiry ON {p}records (expires_at) WHERE expires_at IS NOT NULL;
  `,
];

interface Statements {
  getRecord: Database.Statement<[string], string>;
  expiredKeys: Database.Statement<[number, number], string>;
  deleteKeyEvents: Database.Statement<[string]>;
  putRecord: Database.Statement<[RecordRow]>;
  deleteRecord: Database.Statement<[string]>;
  listSubmitted: Database.Statement<[number, number], KeyedRow>;
  listUnfinished: Database.Statement<[number, number], KeyedRow>;
  insertEvent: Database.Statement<[string, string]>;
  readAllEvents: Database.Statement<[number, number], EventRow>;
  readKeyEvents: Database.Statement<[string, number, number], EventRow>;
  keysWithPrefix: Database.Statement<[string, string, string, string], string>;
  deleteRecordsWithPrefix: Database.Statement<[string, string]>;
  deleteEventsWithPrefix: Database.Statement<[string, string]>;
}

interface RecordRow {
  key: string;
  state: string;
  owner: string | null;
  fencingToken: number;
  leaseExpiresAt: number | null;
  expiresAt: number | null;
  updatedAt: number;
  record: string;
}

interface EventRow {
  seq: number;
  key: string;
  event: string;
}

interface KeyedRow {
  key: string;
  record: string;
}

/**
 * A `LedgerStore` on one SQLite file (better-sqlite3): the embedded durable default.
 *
 * - WAL journal with `synchronous = FULL`: readers never block the writer, and every commit is fsynced
 *   before the call returns, so a record that is SUBMITTED when `submit` runs survives a power loss.
 * - Every mutating call is one `BEGIN IMMEDIATE` transaction that reads the row, applies the pure
 *   decision from `@durable-tools/core` (`decideClaim`, `applyTransition`, `assertFence`), writes the
 *   row and appends its events: all of it commits, or none of it. The write lock is taken at BEGIN, so
 *   several processes sharing the file serialize on it (waiting up to `busyTimeoutMs`).
 * - A claim that finds a live record answers from a plain read and takes no write lock (a replay costs
 *   one read).
 * - Finished records past their expiry (`recordTtlMs`, 7 days by default) are deleted with their
 *   events, a few by each claim that creates a record, so the file does not grow for ever.
 * - A stored record or event is read under the key of its row: one copied into another row (e.g.
 *   to replay another operation's result) is refused with `RecordCodecError`.
 * - SQLite failures (busy after the timeout, I/O errors, a closed database) become
 *   `LedgerUnavailableError` with the original error as `cause`; the store's own refusals
 *   (`StaleOwnerError`, `IllegalTransitionError`, `RecordNotFoundError`, `RecordCodecError`) pass
 *   through unchanged, and the transaction is rolled back.
 */
export class SqliteLedgerStore implements LedgerStore {
  readonly #db: Database.Database;
  #owned = false;
  readonly #codec: RecordCodec | undefined;
  readonly #prefix: string;
  readonly #stmts: Statements;
  readonly #tx: Database.Transaction<(fn: () => unknown) => unknown>;
  #closed = false;

  constructor(db: Database.Database, options: SqliteLedgerStoreOptions = {}) {
    this.#db = db;
    this.#codec = options.codec;
    this.#prefix = validPrefix(options.tablePrefix);
    const busyTimeoutMs = validBusyTimeout(options.busyTimeoutMs);
    this.#stmts = unavailableOnFailure("open", () => {
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      migrate(db, this.#prefix);
      return prepare(db, this.#prefix);
    });
    this.#tx = db.transaction((fn: () => unknown) => fn());
  }

  /** Opens (or creates) the SQLite file at `path`; `close()` closes it. */
  static fromPath(path: string, options: SqliteLedgerStoreOptions = {}): SqliteLedgerStore {
    const busyTimeoutMs = validBusyTimeout(options.busyTimeoutMs);
    validPrefix(options.tablePrefix);
    const db = unavailableOnFailure("open", () => new Database(path, { timeout: busyTimeoutMs }));
    try {
      const store = new SqliteLedgerStore(db, options);
      store.#owned = true;
      return store;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** The table prefix in use (`dt_` by default). */
  get tablePrefix(): string {
    return this.#prefix;
  }

  async claim(request: ClaimRequest): Promise<ClaimResult> {
    return this.#run("claim", () => {
      // Fast path: a live record is answered from a snapshot read, without taking the write lock.
      const seen = decideClaim(this.#read(request.key), request);
      if (seen.outcome === "existing") return seen;
      return this.#write(() => {
        const result = decideClaim(this.#read(request.key), request);
        if (result.outcome === "existing") return result;
        this.#put(result.record);
        this.#append(result.outcome === "created" ? request.events : request.takeoverEvents);
        this.#pruneExpired(request.now);
        return { ...result, record: structuredClone(result.record) };
      });
    });
  }

  async transition(request: TransitionRequest): Promise<OperationRecord> {
    return this.#run("transition", () =>
      this.#write(() => {
        const next = applyTransition(this.#read(request.key), request);
        this.#put(next);
        this.#append(request.events);
        return structuredClone(next);
      }),
    );
  }

  async renewLease(request: RenewLeaseRequest): Promise<OperationRecord> {
    return this.#run("renewLease", () =>
      this.#write(() => {
        const current = assertFence(this.#read(request.key), request);
        const next = { ...current, leaseExpiresAt: request.leaseExpiresAt, updatedAt: request.now };
        this.#put(next);
        return next;
      }),
    );
  }

  async release(request: ReleaseRequest): Promise<void> {
    return this.#run("release", () =>
      this.#write(() => {
        assertFence(this.#read(request.key), request);
        this.#stmts.deleteRecord.run(request.key);
        this.#append(request.events);
      }),
    );
  }

  async get(key: string): Promise<OperationRecord | undefined> {
    return this.#run("get", () => this.#read(key));
  }

  async deleteByKeyPrefix(keyPrefix: string): Promise<number> {
    assertKeyPrefix(keyPrefix);
    return this.#run("deleteByKeyPrefix", () =>
      this.#write(() => {
        const count = this.#stmts.keysWithPrefix.all(keyPrefix, keyPrefix, keyPrefix, keyPrefix).length;
        this.#stmts.deleteRecordsWithPrefix.run(keyPrefix, keyPrefix);
        this.#stmts.deleteEventsWithPrefix.run(keyPrefix, keyPrefix);
        return count;
      }),
    );
  }

  async listInDoubt(options: ListInDoubtOptions): Promise<OperationRecord[]> {
    return this.#run("listInDoubt", () => {
      const includeUnfinished = options.includeUnfinished ?? false;
      const statement = includeUnfinished ? this.#stmts.listUnfinished : this.#stmts.listSubmitted;
      return statement
        .all(options.now, options.limit ?? -1)
        .map((row) => this.#decode(row.record, row.key))
        .filter((record) => isInDoubtCandidate(record, options.now, includeUnfinished));
    });
  }

  async appendEvents(events: readonly LedgerEventInput[]): Promise<void> {
    return this.#run("appendEvents", () => {
      if (events.length > 0) this.#write(() => this.#append(events));
    });
  }

  async readEvents(options: ReadEventsOptions = {}): Promise<LedgerEvent[]> {
    return this.#run("readEvents", () => {
      const afterSeq = options.afterSeq ?? 0;
      const limit = options.limit ?? -1;
      const rows =
        options.key === undefined
          ? this.#stmts.readAllEvents.all(afterSeq, limit)
          : this.#stmts.readKeyEvents.all(options.key, afterSeq, limit);
      return rows.map((row) => {
        const stored = storedUnder(row.key, JSON.parse(row.event) as LedgerEventInput, "event");
        return { ...codeEvent(stored, this.#codec, "decode"), seq: row.seq };
      });
    });
  }

  /**
   * Stops the store. Closes the database when `fromPath` opened it; a database passed to the
   * constructor stays open (its owner closes it). Later calls fail with `LedgerUnavailableError`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned && this.#db.open) this.#db.close();
  }

  // --- internals ------------------------------------------------------------------------------

  #run<T>(what: string, fn: () => T): T {
    if (this.#closed) {
      throw new LedgerUnavailableError(`SqliteLedgerStore.${what} failed: the store is closed.`);
    }
    return unavailableOnFailure(what, fn);
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction; a throw rolls everything back. */
  #write<T>(fn: () => T): T {
    return this.#tx.immediate(fn) as T;
  }

  #read(key: string): OperationRecord | undefined {
    const json = this.#stmts.getRecord.get(key);
    return json === undefined ? undefined : this.#decode(json, key);
  }

  /** A stored record, read as the record of its row's `key` (a codec binds its values to that key). */
  #decode(json: string, key: string): OperationRecord {
    const stored = storedUnder(key, JSON.parse(json) as OperationRecord, "record");
    return codeRecord(stored, this.#codec, "decode");
  }

  /** Deletes a few finished records past their expiry, with their events (within the caller's write). */
  #pruneExpired(now: number): void {
    for (const key of this.#stmts.expiredKeys.all(now, PRUNED_PER_CLAIM)) {
      this.#stmts.deleteRecord.run(key);
      this.#stmts.deleteKeyEvents.run(key);
    }
  }

  #put(record: OperationRecord): void {
    this.#stmts.putRecord.run({
      key: record.key,
      state: record.state,
      owner: record.owner,
      fencingToken: record.fencingToken,
      leaseExpiresAt: record.leaseExpiresAt,
      expiresAt: record.expiresAt,
      updatedAt: record.updatedAt,
      record: JSON.stringify(codeRecord(record, this.#codec, "encode")),
    });
  }

  #append(events: readonly LedgerEventInput[]): void {
    for (const event of events) {
      this.#stmts.insertEvent.run(event.key, JSON.stringify(codeEvent(event, this.#codec, "encode")));
    }
  }
}

/** `stored` if it is the record or event of the row `key`; a copy from another row is refused. */
function storedUnder<T extends { key: string }>(key: string, stored: T, what: "record" | "event"): T {
  if (stored.key === key) return stored;
  throw new RecordCodecError(
    `SqliteLedgerStore: the ${what} stored under key "${key}" belongs to "${stored.key}" (copied from another row?). It is not read.`,
  );
}

function validPrefix(prefix: string | undefined): string {
  const value = prefix ?? DEFAULT_PREFIX;
  if (!PREFIX_PATTERN.test(value)) {
    throw new InvalidConfigurationError(
      `SqliteLedgerStore tablePrefix must be 1-64 letters, digits or underscores, not starting with a digit; got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

function validBusyTimeout(value: number | undefined): number {
  const ms = value ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (!Number.isInteger(ms) || ms < 0 || ms > 2_147_483_647) {
    throw new InvalidConfigurationError(
      `SqliteLedgerStore busyTimeoutMs must be a non-negative integer number of milliseconds, got ${value}.`,
    );
  }
  return ms;
}

function unavailableOnFailure<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (isDurableToolsError(error)) throw error;
    const code = (error as { code?: unknown } | null)?.code;
    throw new LedgerUnavailableError(
      `SqliteLedgerStore.${what} failed${typeof code === "string" ? ` (${code})` : ""}: ${messageOf(error)}`,
      error,
    );
  }
}

/**
 * Creates or upgrades the schema in one immediate transaction (safe when processes open the file
 * together). A file already at this version is only read: opening it takes no write lock.
 */
function migrate(db: Database.Database, prefix: string): void {
  const meta = `${prefix}meta`;
  if (schemaVersion(db, meta) === SQLITE_SCHEMA_VERSION) return;
  db.transaction(() => {
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${meta} (id INTEGER PRIMARY KEY CHECK (id = 1), schema_version INTEGER NOT NULL)`,
    );
    const version = schemaVersion(db, meta) ?? 0;
    if (version > SQLITE_SCHEMA_VERSION) {
      throw new InvalidConfigurationError(
        `The SQLite ledger schema is version ${version} (table ${meta}), but this @durable-tools/sqlite supports up to version ${SQLITE_SCHEMA_VERSION}. Upgrade @durable-tools/sqlite; a newer ledger is never written by older code.`,
      );
    }
    for (let step = version; step < SQLITE_SCHEMA_VERSION; step++) {
      db.exec((MIGRATIONS[step] as string).replaceAll("{p}", prefix));
    }
    if (version !== SQLITE_SCHEMA_VERSION) {
      db.prepare(
        `INSERT INTO ${meta} (id, schema_version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET schema_version = excluded.schema_version`,
      ).run(SQLITE_SCHEMA_VERSION);
    }
  }).immediate();
}

/** The schema version the file records (undefined: no schema yet). */
function schemaVersion(db: Database.Database, meta: string): number | undefined {
  const exists = db
    .prepare<[string], number>("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
    .pluck()
    .get(meta);
  if (exists === undefined) return undefined;
  const found = db
    .prepare<[], number | bigint>(`SELECT schema_version FROM ${meta} WHERE id = 1`)
    .pluck()
    .get();
  return found === undefined ? undefined : Number(found);
}

function prepare(db: Database.Database, p: string): Statements {
  const records = `${p}records`;
  const events = `${p}events`;
  const listInDoubt = (states: string) =>
    db.prepare<[number, number], KeyedRow>(
      `SELECT key, record FROM ${records} INDEXED BY ${p}records_in_doubt
       WHERE state IN (${states}) AND lease_expires_at <= ?
       ORDER BY updated_at, key LIMIT ?`,
    );
  return {
    getRecord: db.prepare<[string], string>(`SELECT record FROM ${records} WHERE key = ?`).pluck(),
    expiredKeys: db
      .prepare<[number, number], string>(
        `SELECT key FROM ${records} INDEXED BY ${p}records_expiry
         WHERE expires_at <= ? AND state IN ('CONFIRMED', 'FAILED') LIMIT ?`,
      )
      .pluck(),
    deleteKeyEvents: db.prepare<[string]>(`DELETE FROM ${events} WHERE key = ?`),
    putRecord: db.prepare<[RecordRow]>(
      `INSERT INTO ${records} (key, state, owner, fencing_token, lease_expires_at, expires_at, updated_at, record)
       VALUES (@key, @state, @owner, @fencingToken, @leaseExpiresAt, @expiresAt, @updatedAt, @record)
       ON CONFLICT (key) DO UPDATE SET
         state = excluded.state, owner = excluded.owner, fencing_token = excluded.fencing_token,
         lease_expires_at = excluded.lease_expires_at, expires_at = excluded.expires_at,
         updated_at = excluded.updated_at, record = excluded.record`,
    ),
    deleteRecord: db.prepare<[string]>(`DELETE FROM ${records} WHERE key = ?`),
    listSubmitted: listInDoubt("'SUBMITTED'"),
    listUnfinished: listInDoubt("'PENDING', 'VALIDATED', 'SUBMITTED'"),
    insertEvent: db.prepare<[string, string]>(`INSERT INTO ${events} (key, event) VALUES (?, ?)`),
    readAllEvents: db
      .prepare<[number, number], EventRow>(
        `SELECT seq, key, event FROM ${events} WHERE seq > ? ORDER BY seq LIMIT ?`,
      )
      .safeIntegers(false),
    readKeyEvents: db
      .prepare<[string, number, number], EventRow>(
        `SELECT seq, key, event FROM ${events} WHERE key = ? AND seq > ? ORDER BY seq LIMIT ?`,
      )
      .safeIntegers(false),
    // substr() compares the prefix literally (LIKE would treat % and _ as wildcards).
    keysWithPrefix: db
      .prepare<[string, string, string, string], string>(
        `SELECT key FROM ${records} WHERE substr(key, 1, length(?)) = ?
         UNION SELECT key FROM ${events} WHERE substr(key, 1, length(?)) = ?`,
      )
      .pluck(),
    deleteRecordsWithPrefix: db.prepare<[string, string]>(
      `DELETE FROM ${records} WHERE substr(key, 1, length(?)) = ?`,
    ),
    deleteEventsWithPrefix: db.prepare<[string, string]>(
      `DELETE FROM ${events} WHERE substr(key, 1, length(?)) = ?`,
    ),
  };
}
