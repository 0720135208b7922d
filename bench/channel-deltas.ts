/**
 * Part of `pnpm bench:checkpoint`: what channel deltas (DurableCheckpointer over MemorySaver and
 * SqliteSaver) save and cost. A 10-node linear graph whose state also holds a 20 KB document that
 * the input sets and no node touches. Per saver, bare vs wrapped, durability "async": the bytes of
 * the checkpoints the saver stores for one run (each stored checkpoint serialized with the saver's
 * own serde, as it writes them) and ms per run (interleaved, shuffled, medians over rounds).
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Annotation, StateGraph } from "@langchain/langgraph";
import { type BaseCheckpointSaver, MemorySaver } from "@langchain/langgraph-checkpoint";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { chainInOrder, checkpointerOver } from "./graph-kit.js";
import { median, round2, round3, seededRandom, shuffled } from "./stats.js";

const NODES = 10;
const DOC_BYTES = 20_000;
const ROUNDS = Number(process.env.BENCH_DELTA_ROUNDS ?? 5);
const RUNS = Number(process.env.BENCH_DELTA_RUNS ?? 30);

const DocState = Annotation.Root({
  doc: Annotation<string>(),
  counter: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
  trail: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

function docGraph(checkpointer: BaseCheckpointSaver) {
  const graph = new StateGraph(DocState);
  const names = Array.from({ length: NODES }, (_, i) => `n${i + 1}`);
  for (const name of names) graph.addNode(name, async () => ({ counter: 1, trail: [name] }));
  chainInOrder(graph, names);
  return graph.compile({ checkpointer });
}

interface DeltaContender {
  name: string;
  storage: BaseCheckpointSaver;
  checkpointer: BaseCheckpointSaver;
  graph: ReturnType<typeof docGraph>;
  samples: number[];
}

export interface ChannelDeltaResult {
  note: string;
  docBytes: number;
  /** Serialized bytes of the checkpoints stored for one run. */
  storedCheckpointBytesPerRun: Record<string, { bare: number; wrapped: number; wrappedOverBare: number }>;
  msPerRun: Record<string, { bare: number; wrapped: number; wrappedOverBare: number }>;
}

export async function measureChannelDeltas(
  sqliteDir: string,
  closeLater: (saver: SqliteSaver) => void,
): Promise<ChannelDeltaResult> {
  const doc = "d".repeat(DOC_BYTES);
  const savers = {
    MemorySaver: () => new MemorySaver(),
    SqliteSaver: () => {
      const saver = SqliteSaver.fromConnString(join(sqliteDir, `deltas-${randomUUID()}.db`));
      closeLater(saver);
      return saver;
    },
  };
  const contenders: DeltaContender[] = Object.entries(savers).flatMap(([label, make]) =>
    (["bare", "wrapped"] as const).map((wrapping) => {
      const storage = make();
      const checkpointer = checkpointerOver(storage, wrapping);
      return {
        name: `${label}/${wrapping}`,
        storage,
        checkpointer,
        graph: docGraph(checkpointer),
        samples: [],
      };
    }),
  );

  const runOnce = async (c: DeltaContender, threadId: string): Promise<number> => {
    const start = performance.now();
    const out = await c.graph.invoke(
      { doc, counter: 0, trail: [] },
      { configurable: { thread_id: threadId }, durability: "async" },
    );
    const ms = performance.now() - start;
    const read = await c.checkpointer.getTuple({ configurable: { thread_id: threadId } });
    if (out.counter !== NODES || read?.checkpoint.channel_values.doc !== doc) {
      throw new Error(`${c.name}: the run or the read-back lost state (counter ${out.counter})`);
    }
    return ms;
  };

  const storedCheckpointBytesPerRun: ChannelDeltaResult["storedCheckpointBytesPerRun"] = {};
  for (const label of Object.keys(savers)) {
    const bytes = { bare: 0, wrapped: 0 };
    for (const wrapping of ["bare", "wrapped"] as const) {
      const c = contenders.find((x) => x.name === `${label}/${wrapping}`) as DeltaContender;
      const threadId = `bytes-${randomUUID()}`;
      await runOnce(c, threadId);
      for await (const stored of c.storage.list({ configurable: { thread_id: threadId } })) {
        const [, serialized] = await c.storage.serde.dumpsTyped(stored.checkpoint);
        bytes[wrapping] += serialized.length;
      }
      await c.storage.deleteThread(threadId);
    }
    storedCheckpointBytesPerRun[label] = { ...bytes, wrappedOverBare: round2(bytes.wrapped / bytes.bare) };
  }

  const random = seededRandom(0x5eed);
  for (let round = 0; round <= ROUNDS; round++) {
    const times = new Map(contenders.map((c) => [c, [] as number[]]));
    const threads = new Map(contenders.map((c) => [c, [] as string[]]));
    for (let r = 0; r < RUNS; r++) {
      for (const c of shuffled(contenders, random)) {
        const threadId = randomUUID();
        threads.get(c)?.push(threadId);
        times.get(c)?.push(await runOnce(c, threadId));
      }
    }
    for (const c of contenders) {
      if (round > 0) c.samples.push(median(times.get(c) as number[])); // round 0 warms up
      for (const threadId of threads.get(c) as string[]) await c.storage.deleteThread(threadId);
    }
    process.stdout.write(
      `channel deltas round ${round + 1}/${ROUNDS + 1}${round === 0 ? " (warm-up)" : ""}\n`,
    );
  }
  const msPerRun: ChannelDeltaResult["msPerRun"] = {};
  for (const label of Object.keys(savers)) {
    const ms = (w: string) =>
      median((contenders.find((c) => c.name === `${label}/${w}`) as DeltaContender).samples);
    msPerRun[label] = {
      bare: round3(ms("bare")),
      wrapped: round3(ms("wrapped")),
      wrappedOverBare: round2(ms("wrapped") / ms("bare")),
    };
  }
  return {
    note: `10-node linear graph whose state holds a ${DOC_BYTES}-byte document set by the input and touched by no node; durability "async"; bytes = each stored checkpoint serialized with the saver's serde, summed over one run's checkpoints; ms = ${ROUNDS} rounds (+1 warm-up) x ${RUNS} interleaved runs, median of round medians`,
    docBytes: DOC_BYTES,
    storedCheckpointBytesPerRun,
    msPerRun,
  };
}
