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
import { type CheckpointLineage, type CheckpointOrigin, originOf } from "./checkpoint-lineage.js";
import { namespaceOf } from "./config-fields.js";
import { CheckpointValueMissingError } from "./errors.js";
import { knownSaverKind } from "./saver-kind.js";

/** The stored metadata's key for the channels whose values live in an earlier checkpoint. */
export const CHANNEL_SOURCES_KEY = "durable_tools_channel_sources";

export class ChannelDeltas {
  readonly #saver: BaseCheckpointSaver;
  /** Where what is known of each checkpoint is kept, holders included (shared with durableStep). */
  readonly #lineage: CheckpointLineage;

  constructor(saver: BaseCheckpointSaver, lineage: CheckpointLineage) {
    this.#saver = saver;
    this.#lineage = lineage;
  }

  /** True for savers that store whole checkpoints (MemorySaver, SqliteSaver, and classes built on them). */
  static suitFor(saver: BaseCheckpointSaver): boolean {
    return knownSaverKind(saver) !== undefined;
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
    const parent = parentId === undefined ? undefined : await this.#storedOrigin(threadId, ns, parentId);
    const values: Record<string, unknown> = {};
    const sources: Record<string, string> = {};
    const holders: Record<string, string> = {};
    for (const [channel, value] of Object.entries(checkpoint.channel_values)) {
      const version = checkpoint.channel_versions[channel];
      const isNew = Object.hasOwn(newVersions, channel);
      const holder =
        !isNew && version !== undefined && parent?.versions?.[channel] === version
          ? parent.holders?.[channel]
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
    // The caller learned this checkpoint's origin before the put; add where its values live.
    this.#lineage.learnHolders(threadId, ns, checkpoint.id, holders);
    return {
      checkpoint: { ...checkpoint, channel_values: values },
      metadata:
        Object.keys(sources).length === 0
          ? metadata
          : ({ ...metadata, [CHANNEL_SOURCES_KEY]: sources } as CheckpointMetadata),
    };
  }

  /**
   * The tuple as it was put: the values named in its metadata read back from the checkpoints holding
   * them. The caller has learned the tuple's origin.
   */
  async expand(tuple: CheckpointTuple): Promise<CheckpointTuple> {
    const threadId = String(tuple.config.configurable?.thread_id);
    const ns = namespaceOf(tuple.config);
    const sources = sourcesOf(tuple.metadata);
    this.#lineage.learnHolders(threadId, ns, tuple.checkpoint.id, holdersOf(tuple, sources));
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

  /** What is known of a stored checkpoint, holders included: remembered, else read from the saver. */
  async #storedOrigin(
    threadId: string,
    ns: string,
    checkpointId: string,
  ): Promise<CheckpointOrigin | undefined> {
    const known = this.#lineage.peek(threadId, ns, checkpointId);
    if (known?.holders !== undefined) return known;
    const stored = await this.#saver.getTuple(checkpointConfig(threadId, ns, checkpointId));
    if (stored === undefined) return undefined;
    const origin = {
      ...originOf(stored.checkpoint, stored.parentConfig, stored.metadata),
      holders: holdersOf(stored, sourcesOf(stored.metadata)),
    };
    this.#lineage.learn(threadId, ns, checkpointId, origin);
    return origin;
  }
}

/** A stored checkpoint's holders: its own values, and the sources its metadata names. */
function holdersOf(
  stored: CheckpointTuple,
  sources: Record<string, string> | undefined,
): Record<string, string> {
  const holders: Record<string, string> = { ...sources };
  for (const channel of Object.keys(stored.checkpoint.channel_values))
    holders[channel] = stored.checkpoint.id;
  return holders;
}

function sourcesOf(metadata: CheckpointMetadata | undefined): Record<string, string> | undefined {
  return (metadata as Record<string, unknown> | undefined)?.[CHANNEL_SOURCES_KEY] as
    | Record<string, string>
    | undefined;
}

function checkpointConfig(threadId: string, ns: string, checkpointId: string): RunnableConfig {
  return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpointId } };
}
