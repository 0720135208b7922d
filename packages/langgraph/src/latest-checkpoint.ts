import type { BaseCheckpointSaver, MemorySaver } from "@langchain/langgraph-checkpoint";
import { knownSaverKind } from "./saver-kind.js";

/*
 * DurableCheckpointer compares every root checkpoint's parent with the thread's latest checkpoint id.
 * `getTuple` would load the whole latest checkpoint (channel values, pending writes) to learn one id,
 * on every `put`; the savers we know answer the id alone. (Our RedisSaver is never asked: it checks
 * the parent inside its write, `putIfLatest`.)
 */

/** `@langchain/langgraph-checkpoint-sqlite`'s SqliteSaver, as far as this file uses it. */
interface SqliteSaverLike {
  db: { prepare(sql: string): { pluck(): { get(...params: unknown[]): unknown } } };
  setup(): void;
}

const LATEST_SQL =
  "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? ORDER BY checkpoint_id DESC LIMIT 1";
const sqliteStatements = new WeakMap<object, { get(...params: unknown[]): unknown }>();

function isSqliteSaver(saver: BaseCheckpointSaver): saver is BaseCheckpointSaver & SqliteSaverLike {
  const candidate = saver as Partial<SqliteSaverLike>;
  return (
    knownSaverKind(saver) === "sqlite" &&
    typeof candidate.setup === "function" &&
    typeof candidate.db?.prepare === "function"
  );
}

/** The id of the newest checkpoint of a thread's namespace, read as cheaply as the saver allows. */
export async function latestCheckpointId(
  saver: BaseCheckpointSaver,
  threadId: string,
  checkpointNs = "",
): Promise<string | undefined> {
  const storage = knownSaverKind(saver) === "memory" ? (saver as MemorySaver).storage : undefined;
  if (storage !== undefined) {
    // MemorySaver's own choice of the latest: the greatest id in default string order.
    let latest: string | undefined;
    for (const id of Object.keys(storage[threadId]?.[checkpointNs] ?? {})) {
      if (latest === undefined || id > latest) latest = id;
    }
    return latest;
  }
  if (isSqliteSaver(saver)) {
    saver.setup();
    let statement = sqliteStatements.get(saver.db);
    if (statement === undefined) {
      statement = saver.db.prepare(LATEST_SQL).pluck();
      sqliteStatements.set(saver.db, statement);
    }
    const id = statement.get(threadId, checkpointNs);
    return typeof id === "string" ? id : undefined;
  }
  const latest = await saver.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: checkpointNs } });
  return latest?.checkpoint.id;
}
