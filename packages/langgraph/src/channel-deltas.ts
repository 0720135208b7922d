/*
 * Channel deltas for savers that store every checkpoint whole (MemorySaver, SqliteSaver).
 *
 * A checkpoint is handed to the saver with only the values of the channels that changed (named in
 * newVersions, or whose version differs from the parent's). Each unchanged channel is named, in the
 * stored metadata, with the checkpoint that holds its value; reads put the values back. So a large
 * channel that a step does not touch is not written again, as with LangGraph's delta-storing savers,
 * and reads through the DurableCheckpointer return the same checkpoints as before.
 *
 * A value is dropped only where it provably lives elsewhere: the parent holds the same version of the
 * channel. With no parent (the first checkpoint of a thread), a versioned value is stored only if
 * newVersions names it, which is the delta-storing savers' contract; unversioned values (channel
 * defaults) are always kept. A parent that cannot be read keeps every value.
 */
import type { RunnableConfig } from "@langchain/core/runnables";
import type {
  BaseCheckpointSaver,
  ChannelVersions,
  Checkpoint,
  CheckpointMetadata,
  CheckpointTuple,
} from "@langchain/langgraph-checkpoint";
import { namespaceOf } from "./config-fields.js";
import { CheckpointValueMissingError } from "./errors.js";

/** The stored metadata's key for the channels whose values live in an earlier checkpoint. */
export const CHANNEL_SOURCES_KEY = "durable_tools_channel_sources";

/** Class names of savers that store each checkpoint whole, whatever newVersions says. */
const WHOLE_CHECKPOINT_SAVERS = new Set(["MemorySaver", "SqliteSaver"]);

/** Where each channel's value of a stored checkpoint lives, and the versions it was stored at. */
interface StoredShape {
  versions: ChannelVersions;
  /** Channel name to the id of the checkpoint whose stored values contain it. */
  holders: Record<string, string>;
}

/** How many stored checkpoints' shapes are remembered (the parent of the next put is nearly always one). */
const SHAPE_CACHE_SIZE = 1024;

export class ChannelDeltas {
  readonly #saver: BaseCheckpointSaver;
  readonly #shapes = new Map<string, StoredShape>();

  constructor(saver: BaseCheckpointSaver) {
    this.#saver = saver;
  }

  /** True for savers that store whole checkpoints (MemorySaver, SqliteSaver, and classes built on them). */
  static suitFor(saver: BaseCheckpointSaver): boolean {
    for (let proto = Object.getPrototypeOf(saver); proto !== null; proto = Object.getPrototypeOf(proto)) {
      if (WHOLE_CHECKPOINT_SAVERS.has(proto.constructor?.name)) return true;
    }
    return false;
  }

  /** The checkpoint and metadata to store for a put: changed values, and where the others live. */
  async shrink(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<{ checkpoint: Checkpoint; metadata: CheckpointMetadata }> {
    const threadId = String(config.configurable?.thread_id);
    const ns = namespaceOf(config);
    const parentId = config.configurable?.checkpoint_id as string | undefined;
    const parent = parentId === undefined ? undefined : await this.#shapeOf(threadId, ns, parentId);
    const values: Record<string, unknown> = {};
    const sources: Record<string, string> = {};
    const holders: Record<string, string> = {};
    for (const [channel, value] of Object.entries(checkpoint.channel_values)) {
      const version = checkpoint.channel_versions[channel];
      const isNew = Object.hasOwn(newVersions, channel);
      const holder =
        !isNew && version !== undefined && parent?.versions[channel] === version
          ? parent.holders[channel]
          : undefined;
      if (holder !== undefined) {
        sources[channel] = holder;
        holders[channel] = holder;
      } else if (isNew || version === undefined || parentId !== undefined) {
        // Kept: it changed, it is unversioned (a channel's default), or it cannot be shown to live in
        // the parent. Only a first checkpoint's versioned value missing from newVersions is dropped.
        values[channel] = value;
        holders[channel] = checkpoint.id;
      }
    }
    this.#remember(threadId, ns, checkpoint.id, { versions: { ...checkpoint.channel_versions }, holders });
    return {
      checkpoint: { ...checkpoint, channel_values: values },
      metadata:
        Object.keys(sources).length === 0
          ? metadata
          : ({ ...metadata, [CHANNEL_SOURCES_KEY]: sources } as CheckpointMetadata),
    };
  }

  /** The tuple as it was put: the values named in its metadata read back from the checkpoints holding them. */
  async expand(tuple: CheckpointTuple): Promise<CheckpointTuple> {
    const threadId = String(tuple.config.configurable?.thread_id);
    const ns = namespaceOf(tuple.config);
    const sources = sourcesOf(tuple.metadata);
    this.#remember(threadId, ns, tuple.checkpoint.id, shapeOfStored(tuple, sources));
    if (sources === undefined) return tuple;
    const byHolder = new Map<string, string[]>();
    for (const [channel, holder] of Object.entries(sources)) {
      const channels = byHolder.get(holder);
      if (channels === undefined) byHolder.set(holder, [channel]);
      else channels.push(channel);
    }
    const values = { ...tuple.checkpoint.channel_values };
    await Promise.all(
      [...byHolder].map(async ([holderId, channels]) => {
        const holder = await this.#saver.getTuple(checkpointConfig(threadId, ns, holderId));
        for (const channel of channels) {
          if (holder === undefined || !Object.hasOwn(holder.checkpoint.channel_values, channel)) {
            throw new CheckpointValueMissingError({
              threadId,
              checkpointNs: ns,
              checkpointId: tuple.checkpoint.id,
              channel,
              holderCheckpointId: holderId,
            });
          }
          values[channel] = holder.checkpoint.channel_values[channel];
        }
      }),
    );
    const { [CHANNEL_SOURCES_KEY]: _sources, ...metadata } = tuple.metadata as Record<string, unknown>;
    return {
      ...tuple,
      checkpoint: { ...tuple.checkpoint, channel_values: values },
      metadata: metadata as CheckpointMetadata,
    };
  }

  /** Forgets a deleted thread's shapes (a thread re-created under the same ids must not inherit them). */
  forget(threadId: string): void {
    const prefix = `${threadId}\u0000`;
    for (const key of this.#shapes.keys()) if (key.startsWith(prefix)) this.#shapes.delete(key);
  }

  async #shapeOf(threadId: string, ns: string, checkpointId: string): Promise<StoredShape | undefined> {
    const cached = this.#shapes.get(shapeKey(threadId, ns, checkpointId));
    if (cached !== undefined) return cached;
    const stored = await this.#saver.getTuple(checkpointConfig(threadId, ns, checkpointId));
    if (stored === undefined) return undefined;
    const shape = shapeOfStored(stored, sourcesOf(stored.metadata));
    this.#remember(threadId, ns, checkpointId, shape);
    return shape;
  }

  /** Stored checkpoints never change, so a remembered shape stays right; the oldest is forgotten first. */
  #remember(threadId: string, ns: string, checkpointId: string, shape: StoredShape): void {
    const key = shapeKey(threadId, ns, checkpointId);
    this.#shapes.delete(key);
    this.#shapes.set(key, shape);
    if (this.#shapes.size > SHAPE_CACHE_SIZE) {
      this.#shapes.delete(this.#shapes.keys().next().value as string);
    }
  }
}

function shapeOfStored(stored: CheckpointTuple, sources: Record<string, string> | undefined): StoredShape {
  const holders: Record<string, string> = { ...sources };
  for (const channel of Object.keys(stored.checkpoint.channel_values))
    holders[channel] = stored.checkpoint.id;
  return { versions: stored.checkpoint.channel_versions, holders };
}

function sourcesOf(metadata: CheckpointMetadata | undefined): Record<string, string> | undefined {
  return (metadata as Record<string, unknown> | undefined)?.[CHANNEL_SOURCES_KEY] as
    | Record<string, string>
    | undefined;
}

function checkpointConfig(threadId: string, ns: string, checkpointId: string): RunnableConfig {
  return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpointId } };
}

function shapeKey(threadId: string, ns: string, checkpointId: string): string {
  return `${threadId}\u0000${ns}\u0000${checkpointId}`;
}
