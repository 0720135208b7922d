import { isDeepStrictEqual } from "node:util";
import { InvalidConfigurationError } from "@durable-tools/core";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  compareWritesSortKeys,
  getCheckpointId,
  maxChannelVersion,
  type PendingWrite,
  type SerializerProtocol,
  TASKS,
  WRITES_IDX_MAP,
  writesSortKey,
} from "@langchain/langgraph-checkpoint";
import { type Cluster, Redis, type RedisOptions } from "ioredis";
import { warnOncePerOutage } from "../connection-warnings.js";
import { defineScripts } from "../define-scripts.js";
import { scanKeys } from "../scan-keys.js";
import { nextChannelVersion } from "./channel-versions.js";
import {
  blobField,
  checkpointMember,
  encodedIdOf,
  encodePart,
  namespaceBounds,
  parseBlobField,
  parseCheckpointMember,
  type ThreadKeys,
  threadIndexPattern,
  threadKeys,
  writeField,
} from "./saver-keys.js";
import {
  checkpointBlobFields,
  type DecodedWrite,
  decodeBlob,
  decodeCheckpointRecord,
  decodeWrite,
  EMPTY_BLOB_TYPE,
  emptyBlob,
  encodeBlob,
  encodeCheckpointRecord,
  encodeWrite,
  versionsFromFields,
} from "./saver-records.js";
import {
  GET_CHECKPOINT_SCRIPT,
  PUT_CHECKPOINT_IF_LATEST_SCRIPT,
  PUT_CHECKPOINT_SCRIPT,
  PUT_WRITES_SCRIPT,
} from "./saver-scripts.js";
import { WritesInFlight } from "./writes-in-flight.js";

/** LangGraph's RunnableConfig, taken from the saver contract (no direct `@langchain/core` import). */
type RunnableConfig = Parameters<BaseCheckpointSaver["getTuple"]>[0];

export interface RedisSaverOptions {
  /** First part of every key's hash tag: `{<prefix>:<thread_id>}:...`. Default `lgcp`. */
  prefix?: string;
  /**
   * Expire a thread this many milliseconds after its last write. Every write sets the TTL again on
   * all five keys of the thread, so a thread expires as a whole. Default: never.
   */
  ttlMs?: number;
  /** Serializer of checkpoints, metadata, channel values and writes. Default LangGraph's JsonPlusSerializer. */
  serde?: SerializerProtocol;
}

type Client = Redis | Cluster;
type Reply = (Buffer | null)[];
type ScriptArg = string | number | Buffer;

/**
 * The scripts as ioredis commands. The writing ones take their keys and arguments as one array
 * (ioredis flattens it): a call's writes or channel values can be more arguments than a JavaScript
 * call may be given one by one.
 */
interface ScriptedCommands<R> {
  dtCpPutV3(args: ScriptArg[]): R;
  dtCpPutIfLatestV3(args: ScriptArg[]): R;
  dtCpWritesV2(args: ScriptArg[]): R;
  dtCpGetV1Buffer(...args: ScriptArg[]): R;
}
type ScriptedClient = ScriptedCommands<Promise<unknown>>;
type ScriptedPipeline = ScriptedCommands<unknown> & {
  exec(): Promise<[Error | null, unknown][] | null>;
};

interface ListedCheckpoint {
  ns: string;
  checkpointId: string;
  /** `<encoded ns>:<encoded id>`, as in the index. */
  member: string;
  /** The percent-encoded checkpoint id: checkpoints order by it, as the index does. */
  encodedId: string;
}

const LIST_BATCH = 50;

/**
 * A LangGraph checkpointer on plain Redis 6.2+/7, Valkey or Redis Cluster: no RedisJSON, no
 * RediSearch, any ioredis `Redis` or `Cluster`.
 *
 * - Channel values are stored once per version: `put` writes a blob only for the channels in
 *   `newVersions`; a checkpoint keeps its `channel_versions` and its `channel_values` are rebuilt on
 *   read from the blobs those versions name. Versions this saver mints are
 *   `<12-digit counter>.<48 random bits>`, so two branches forked from one checkpoint never share a
 *   blob (channel-versions.ts).
 * - `put` (record + index + new blobs) and `putWrites` (all writes of a task) are each one Lua
 *   script, so they commit atomically; a checkpoint read is one script too (record, blobs and
 *   pending writes in one round trip, one consistent snapshot).
 * - All keys of a thread share the hash tag `{<prefix>:<thread_id>}`: five keys per thread, one
 *   cluster slot. `deleteThread` is one UNLINK of those five keys, on every namespace at once.
 * - Values are stored as raw bytes (ioredis Buffer commands), framed as described in saver-records.ts.
 */
export class RedisSaver extends BaseCheckpointSaver {
  readonly client: Client;
  readonly #scripts: ScriptedClient;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #ownsClient: boolean;
  readonly #writesInFlight = new WritesInFlight();

  constructor(client: Client, options: RedisSaverOptions = {}, ownsClient = false) {
    super(options.serde);
    if (typeof (client as { defineCommand?: unknown } | undefined)?.defineCommand !== "function") {
      throw new InvalidConfigurationError("RedisSaver needs an ioredis Redis or Cluster instance.");
    }
    const prefix = options.prefix ?? "lgcp";
    if (prefix === "" || /[{}]/.test(prefix)) {
      throw new InvalidConfigurationError(
        `RedisSaver prefix must be non-empty and free of "{" and "}" (it is part of the hash tag), got "${prefix}".`,
      );
    }
    const ttlMs = options.ttlMs ?? 0;
    if (!Number.isInteger(ttlMs) || ttlMs < 0) {
      throw new InvalidConfigurationError(
        `ttlMs must be a whole number of milliseconds (0 or unset = never expire), got ${options.ttlMs}.`,
      );
    }
    this.client = client;
    this.#prefix = prefix;
    this.#ttlMs = ttlMs;
    this.#ownsClient = ownsClient;
    this.#scripts = defineScripts<ScriptedClient>(client, 5, {
      // V3 (writes V2): the same arguments and data as V2, in fewer Redis calls per script.
      dtCpPutV3: PUT_CHECKPOINT_SCRIPT,
      dtCpPutIfLatestV3: PUT_CHECKPOINT_IF_LATEST_SCRIPT,
      dtCpWritesV2: PUT_WRITES_SCRIPT,
      dtCpGetV1: GET_CHECKPOINT_SCRIPT,
    });
  }

  /** Connects to `redis://` / `rediss://` and owns the connection (`close()` quits it). */
  static fromUrl(url: string, options: RedisSaverOptions & { redis?: RedisOptions } = {}): RedisSaver {
    const { redis, ...saverOptions } = options;
    const client = redis === undefined ? new Redis(url) : new Redis(url, redis);
    warnOncePerOutage(client, "RedisSaver.fromUrl");
    return new RedisSaver(client, saverOptions, true);
  }

  /** Quits the connection if `fromUrl` created it; a client passed in stays open. */
  async close(): Promise<void> {
    if (this.#ownsClient) await this.client.quit();
  }

  /** The five keys of a thread (checkpoints, index, blobs, writes, writes index). */
  threadKeys(threadId: string): ThreadKeys {
    return threadKeys(this.#prefix, threadId);
  }

  override async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = config.configurable?.thread_id as string | undefined;
    if (threadId === undefined || threadId === null) return undefined;
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const checkpointId = getCheckpointId(config);
    const member = checkpointId ? checkpointMember(ns, checkpointId) : "";
    await this.#writesInFlight.settled(String(threadId));
    const reply = (await this.#scripts.dtCpGetV1Buffer(
      ...this.#getArgs(String(threadId), ns, member),
    )) as Reply;
    return this.#toTuple(String(threadId), reply);
  }

  override async *list(
    config: RunnableConfig,
    options: CheckpointListOptions = {},
  ): AsyncGenerator<CheckpointTuple> {
    const { before, limit, filter } = options;
    let remaining = limit;
    if (remaining !== undefined && remaining <= 0) return;
    const configurable = config.configurable ?? {};
    const ns = configurable.checkpoint_ns as string | undefined;
    const onlyId = configurable.checkpoint_id as string | undefined;
    // An empty id is no id, as for getTuple and checkpoint_id here.
    const beforeId = (before?.configurable?.checkpoint_id as string | undefined) || undefined;
    const threads =
      configurable.thread_id === undefined || configurable.thread_id === null
        ? await this.#scanThreads()
        : [String(configurable.thread_id)];
    const hasFilter = filter !== undefined && Object.keys(filter).length > 0;

    for (const threadId of threads) {
      await this.#writesInFlight.settled(threadId);
      const listed = await this.#listCheckpoints(threadId, ns, beforeId, onlyId || undefined);
      for (let start = 0; start < listed.length; ) {
        const size =
          remaining === undefined || hasFilter ? LIST_BATCH : Math.min(LIST_BATCH, Math.max(remaining, 1));
        const batch = listed.slice(start, start + size);
        start += size;
        const pipeline = this.client.pipeline() as unknown as ScriptedPipeline;
        for (const entry of batch) {
          pipeline.dtCpGetV1Buffer(...this.#getArgs(threadId, entry.ns, entry.member));
        }
        const results = (await pipeline.exec()) ?? [];
        for (const [error, reply] of results) {
          if (error) throw error;
          const tuple = await this.#toTuple(threadId, reply as Reply);
          if (tuple === undefined) continue; // deleted since it was listed
          if (hasFilter && !matchesFilter(tuple.metadata, filter)) continue;
          yield tuple;
          if (remaining !== undefined && --remaining <= 0) return;
        }
      }
    }
  }

  override async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const { threadId, ns, member, record, keptIfStored, blobs } = await this.#checkpointWrite(
      "put",
      config,
      checkpoint,
      metadata,
      newVersions,
    );
    await this.#scripts.dtCpPutV3([
      ...this.threadKeys(threadId),
      this.#ttlMs,
      member,
      record,
      keptIfStored,
      ...blobs,
    ]);
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpoint.id } };
  }

  /**
   * `put`, only if the newest checkpoint of the namespace is still `expectedLatestId` (undefined: the
   * namespace has none yet), checked and written in one script: a compare-and-set, atomic across
   * processes. `DurableCheckpointer` uses it for its stale-parent check, without a read first. A
   * re-sent call (ioredis sends a command again when the connection dropped before its reply) that
   * finds this very record already the latest replies ok (see saver-scripts.ts).
   */
  async putIfLatest(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
    expectedLatestId: string | undefined,
  ): Promise<{ ok: true; config: RunnableConfig } | { ok: false; latestCheckpointId: string | undefined }> {
    const { threadId, ns, member, record, keptIfStored, blobs } = await this.#checkpointWrite(
      "putIfLatest",
      config,
      checkpoint,
      metadata,
      newVersions,
    );
    const bounds = namespaceBounds(ns);
    const expected = expectedLatestId === undefined ? "" : checkpointMember(ns, expectedLatestId);
    const reply = (await this.#scripts.dtCpPutIfLatestV3([
      ...this.threadKeys(threadId),
      this.#ttlMs,
      member,
      record,
      bounds.min,
      bounds.max,
      expected,
      keptIfStored,
      ...blobs,
    ])) as string[];
    if (reply[0] === "conflict") {
      const latest = reply[1] ? parseCheckpointMember(reply[1]).checkpointId : undefined;
      return { ok: false, latestCheckpointId: latest };
    }
    return {
      ok: true,
      config: { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpoint.id } },
    };
  }

  /**
   * What a checkpoint write sends: the record (without channel values), the blobs of `newVersions`,
   * and last, `keptIfStored` of them to write only if absent: the pending sends (TASKS) of a
   * checkpoint at a version it did not mint. LangGraph writes such a checkpoint after one migrated on
   * read (format < 4: the sends came from the parent's writes, under a version no put wrote), e.g. on
   * `updateState(config, null)` or an input checkpoint; without their blob the sends would be lost.
   * On the common path this is one property lookup.
   */
  async #checkpointWrite(
    what: string,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<{
    threadId: string;
    ns: string;
    member: string;
    record: Buffer;
    keptIfStored: number;
    blobs: (string | Buffer)[];
  }> {
    if (config.configurable === undefined) {
      throw new Error(`RedisSaver.${what}: the config has no "configurable" field (it needs a thread_id).`);
    }
    const threadId = requireId(what, "thread_id", config.configurable.thread_id);
    const ns = (config.configurable.checkpoint_ns as string | undefined) ?? "";
    const parent = (config.configurable.checkpoint_id as string | undefined) || null;
    const { channel_values: values, channel_versions: versions, ...rest } = checkpoint;
    // The blob fields name every channel's version, so the checkpoint bytes need not repeat them.
    const { blobFields, versionsInFields } = checkpointBlobFields(ns, versions);
    const stored =
      versionsInFields !== undefined || versions === undefined
        ? rest
        : { ...rest, channel_versions: versions };
    const channelValues = values as Record<string, unknown> | undefined;
    const toBlob = async ([channel, version]: [string, string | number]) => {
      const value = channelValues?.[channel];
      if (value === undefined) return [blobField(ns, channel, version), emptyBlob()];
      const [type, bytes] = await this.serde.dumpsTyped(value);
      return [blobField(ns, channel, version), encodeBlob(type, bytes)];
    };
    const toWrite: [string, string | number][] = Object.entries(newVersions);
    let keptIfStored = 0;
    const sends = channelValues?.[TASKS];
    if (Array.isArray(sends) && sends.length > 0) {
      const sendsVersion = (versions as Record<string, string | number> | undefined)?.[TASKS];
      if (sendsVersion !== undefined && !Object.hasOwn(newVersions, TASKS)) {
        toWrite.push([TASKS, sendsVersion]);
        keptIfStored = 1;
      }
    }
    const [[checkpointType, checkpointBytes], [metadataType, metadataBytes], blobs] = await Promise.all([
      this.serde.dumpsTyped(stored),
      this.serde.dumpsTyped(metadata),
      Promise.all(toWrite.map(toBlob)),
    ]);
    const record = encodeCheckpointRecord(
      { parent, checkpointType, metadataType, versionsInFields },
      blobFields,
      checkpointBytes,
      metadataBytes,
    );
    return {
      threadId,
      ns,
      member: checkpointMember(ns, checkpoint.id),
      record,
      keptIfStored,
      blobs: blobs.flat(),
    };
  }

  override async putWrites(
    config: RunnableConfig,
    writes: PendingWrite[],
    taskId: string,
    taskPath?: string,
  ): Promise<void> {
    const threadId = requireId("putWrites", "thread_id", config.configurable?.thread_id);
    const checkpointId = requireId("putWrites", "checkpoint_id", config.configurable?.checkpoint_id);
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    if (writes.length === 0) return;
    // Tracked from this call on, serialization included: see writes-in-flight.ts.
    await this.#writesInFlight.track(
      threadId,
      this.#storeWrites(threadId, ns, checkpointId, writes, taskId, taskPath),
    );
  }

  async #storeWrites(
    threadId: string,
    ns: string,
    checkpointId: string,
    writes: PendingWrite[],
    taskId: string,
    taskPath: string | undefined,
  ): Promise<void> {
    const member = checkpointMember(ns, checkpointId);
    const args = await Promise.all(
      writes.map(async ([channel, value], index) => {
        const idx = WRITES_IDX_MAP[channel] ?? index;
        const [type, bytes] = await this.serde.dumpsTyped(value);
        const encoded = encodeWrite({ taskId, idx, channel, type, taskPath: taskPath ?? "" }, bytes);
        return [writeField(member, taskId, idx), encoded, idx < 0 ? "1" : "0"];
      }),
    );
    await this.#scripts.dtCpWritesV2([...this.threadKeys(threadId), this.#ttlMs, ...args.flat()]);
  }

  /** Removes every checkpoint, blob and write of the thread, in all namespaces (one UNLINK). */
  override async deleteThread(threadId: string): Promise<void> {
    // A write still on its way would land after the UNLINK and bring the thread back.
    await this.#writesInFlight.settled(threadId);
    await this.client.unlink(...this.threadKeys(threadId));
  }

  /** `<12-digit counter>.<random>`: see channel-versions.ts. */
  override getNextVersion(current: number | undefined): number {
    // LangGraph supports string versions at run time; its type parameter defaults to number.
    return nextChannelVersion(current) as unknown as number;
  }

  // --- helpers ---------------------------------------------------------------------------------

  #getArgs(threadId: string, ns: string, member: string): ScriptArg[] {
    const bounds = namespaceBounds(ns);
    return [...this.threadKeys(threadId), member, bounds.min, bounds.max];
  }

  async #toTuple(threadId: string, reply: Reply): Promise<CheckpointTuple | undefined> {
    if (reply.length === 0) return undefined;
    const [memberBuffer, recordBuffer] = reply;
    if (!memberBuffer || !recordBuffer) return undefined;
    const { ns, checkpointId } = parseCheckpointMember(memberBuffer.toString("utf8"));
    const record = decodeCheckpointRecord(recordBuffer);
    const fields = record.blobFields.map(parseBlobField);
    const blobValues = reply.slice(2, 2 + record.blobFields.length);
    const writeValues = reply.slice(2 + record.blobFields.length);

    const [stored, metadata, channelValues, pendingWrites] = await Promise.all([
      this.serde.loadsTyped(record.checkpointType, record.checkpoint) as Promise<
        Omit<Checkpoint, "channel_values">
      >,
      this.serde.loadsTyped(record.metadataType, record.metadata) as Promise<CheckpointMetadata>,
      this.#loadBlobs(fields, blobValues),
      this.#loadWrites(writeValues),
    ]);
    const checkpoint: Checkpoint = { ...stored, channel_values: channelValues };
    if (record.versionsInFields !== undefined) {
      checkpoint.channel_versions = versionsFromFields(fields, record.versionsInFields.numeric);
    }
    if (checkpoint.v < 4 && record.parent !== null) {
      await this.#migratePendingSends(checkpoint, threadId, ns, record.parent);
    }
    const tuple: CheckpointTuple = {
      config: { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpointId } },
      checkpoint,
      metadata,
      pendingWrites,
    };
    if (record.parent !== null) {
      tuple.parentConfig = {
        configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: record.parent },
      };
    }
    return tuple;
  }

  async #loadBlobs(fields: readonly { channel: string }[], values: Reply): Promise<Record<string, unknown>> {
    const entries = await Promise.all(
      fields.map(async ({ channel }, i): Promise<[string, unknown] | undefined> => {
        const raw = values[i];
        if (!raw) return undefined;
        const blob = decodeBlob(raw);
        if (blob.type === EMPTY_BLOB_TYPE) return undefined;
        return [channel, await this.serde.loadsTyped(blob.type, blob.value)];
      }),
    );
    return Object.fromEntries(entries.filter((entry) => entry !== undefined));
  }

  /** Pending writes in `writesSortKey` order (task path, task id, idx), the order LangGraph applies them. */
  async #loadWrites(values: Reply): Promise<CheckpointPendingWrite[]> {
    const writes = values.filter((raw): raw is Buffer => raw !== null).map(decodeWrite);
    writes.sort((a, b) => compareWritesSortKeys(sortKey(a), sortKey(b)));
    return Promise.all(
      writes.map(
        async (write): Promise<CheckpointPendingWrite> => [
          write.taskId,
          write.channel,
          await this.serde.loadsTyped(write.type, write.value),
        ],
      ),
    );
  }

  /** Checkpoints older than format 4 kept pending sends as TASKS writes on their parent. */
  async #migratePendingSends(checkpoint: Checkpoint, threadId: string, ns: string, parentId: string) {
    const reply = (await this.#scripts.dtCpGetV1Buffer(
      ...this.#getArgs(threadId, ns, checkpointMember(ns, parentId)),
    )) as Reply;
    let sends: unknown[] = [];
    if (reply.length > 0 && reply[1]) {
      const parent = decodeCheckpointRecord(reply[1]);
      const parentWrites = await this.#loadWrites(reply.slice(2 + parent.blobFields.length));
      sends = parentWrites.filter(([, channel]) => channel === TASKS).map(([, , value]) => value);
    }
    checkpoint.channel_values ??= {};
    checkpoint.channel_values[TASKS] = sends;
    checkpoint.channel_versions ??= {};
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] =
      versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }

  /**
   * Checkpoints of one thread, newest first (across namespaces when ns is not given). "Newest" is the
   * index's order, the one `getTuple` takes the latest by: the percent-encoded checkpoint id, compared
   * byte by byte (encoded ids are ASCII, so JS string order is that byte order). It is the id's own
   * order for LangGraph's uuid6 ids and any id of unreserved characters; `before` uses it too, so a
   * listing, its `before` pages and the latest agree.
   */
  async #listCheckpoints(
    threadId: string,
    ns: string | undefined,
    beforeId: string | undefined,
    onlyId: string | undefined,
  ): Promise<ListedCheckpoint[]> {
    const [, idx] = this.threadKeys(threadId);
    let members: string[];
    if (ns !== undefined && onlyId !== undefined) {
      members = [checkpointMember(ns, onlyId)];
    } else if (ns !== undefined) {
      const bounds = namespaceBounds(ns);
      const max = beforeId === undefined ? bounds.max : `(${checkpointMember(ns, beforeId)}`;
      members = await this.client.zrevrangebylex(idx, max, bounds.min);
    } else {
      members = await this.client.zrange(idx, "0", "-1");
    }
    const encodedBefore = beforeId === undefined ? undefined : encodePart(beforeId);
    const listed = members
      .map((member) => ({ ...parseCheckpointMember(member), member, encodedId: encodedIdOf(member) }))
      .filter(
        (entry) =>
          (onlyId === undefined || entry.checkpointId === onlyId) &&
          (encodedBefore === undefined || entry.encodedId < encodedBefore),
      );
    if (ns === undefined) {
      // Newest id first; one id in several namespaces: by namespace, as the index holds them.
      listed.sort((a, b) =>
        a.encodedId === b.encodedId ? (a.member < b.member ? -1 : 1) : a.encodedId < b.encodedId ? 1 : -1,
      );
    }
    return listed;
  }

  /** Every thread under this prefix: a SCAN of each master (only for `list()` without a thread_id). */
  async #scanThreads(): Promise<string[]> {
    const { pattern, parse } = threadIndexPattern(this.#prefix);
    const threads = new Set<string>();
    for (const key of await scanKeys(this.client, pattern, 1000)) {
      const threadId = parse(key);
      if (threadId !== undefined) threads.add(threadId);
    }
    return [...threads];
  }
}

function sortKey(write: DecodedWrite) {
  return writesSortKey(write.taskPath, write.taskId, write.idx);
}

function requireId(method: string, field: string, value: unknown): string {
  if (value === undefined || value === null || value === "") {
    throw new Error(
      `RedisSaver.${method}: the config's "configurable" has no "${field}". Pass it, e.g. ` +
        `graph.invoke(input, { configurable: { thread_id: "my-thread" } }).`,
    );
  }
  return String(value);
}

/** Metadata filter: every key of the filter equals (deeply) the metadata's value. */
function matchesFilter(metadata: CheckpointMetadata | undefined, filter: Record<string, unknown>): boolean {
  const record = (metadata ?? {}) as Record<string, unknown>;
  return Object.entries(filter).every(([key, value]) => isDeepStrictEqual(record[key], value));
}
