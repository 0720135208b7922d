/*
 * One saver call at a time: µs per `put` and per `putWrites` of MemorySaver, SqliteSaver and RedisSaver,
 * beside one ioredis PING, the cheapest round trip any Redis saver makes. Whole runs (the main rounds)
 * say how much slower RedisSaver is; this says where: a call that needs a round trip cannot cost less
 * than a PING, and SQLite, in process, pays none. Calls are awaited one by one on one thread per
 * saver and round (what durability "sync" does), with inputs shaped like a step of the bench graph and
 * built before the clock starts. Wall time and the process's CPU time (user + system) per call.
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import {
  type BaseCheckpointSaver,
  type Checkpoint,
  type CheckpointMetadata,
  emptyCheckpoint,
  type PendingWrite,
  uuid6,
} from "@langchain/langgraph-checkpoint";
import type { Redis } from "ioredis";
import { median, round1, round2, seededRandom, shuffled } from "./stats.js";

const CALLS = 300;
const ROUNDS = 15;
const WARMUP_ROUNDS = 1;

type SaverName = "memory" | "sqlite" | "redis";
type Call = "put" | "putWrites";

export interface SaverCallFigures {
  note: string;
  /** µs per call: wall, and CPU of this process. */
  us: Record<string, { wall: number; cpu: number }>;
  /** wall µs of each Redis figure over SqliteSaver's for the same call, and a PING's over it. */
  redisOverSqlite: Record<Call, number>;
  pingOverSqlite: Record<Call, number>;
}

interface Prepared {
  call(i: number): Promise<unknown>;
  check(): Promise<void>;
}

interface Contender {
  name: string;
  /** Builds the round's inputs (untimed); returns the timed call and the untimed check after it. */
  prepare(round: number): Promise<Prepared>;
  wall: number[];
  cpu: number[];
}

const METADATA: CheckpointMetadata = { source: "loop", step: 1, parents: {} };
const WRITES: PendingWrite[] = [
  ["counter", 1],
  ["trail", ["n3"]],
  ["branch:to:n4", null],
];

/** CALLS checkpoints in a chain, each with the values a step of the bench graph leaves. */
function checkpointChain(saver: BaseCheckpointSaver): Checkpoint[] {
  let versions: Record<string, number> = {};
  return Array.from({ length: CALLS }, (_, i) => {
    const checkpoint = emptyCheckpoint();
    checkpoint.id = uuid6(-1);
    checkpoint.channel_values = { counter: i, trail: ["n1", "n2", "n3", "n4", "n5"], "branch:to:n4": null };
    versions = Object.fromEntries(
      Object.keys(checkpoint.channel_values).map((channel) => [
        channel,
        saver.getNextVersion(versions[channel]),
      ]),
    );
    checkpoint.channel_versions = versions;
    return checkpoint;
  });
}

function saverContender(name: SaverName, saver: BaseCheckpointSaver, call: Call): Contender {
  return {
    name: `${name}.${call}`,
    wall: [],
    cpu: [],
    async prepare(round) {
      const threadId = `bench-calls-${call}-${round}-${randomUUID()}`;
      const root = { configurable: { thread_id: threadId, checkpoint_ns: "" } };
      const chain = checkpointChain(saver);
      if (call === "put") {
        const configs = chain.map((_, i) => ({
          configurable: { ...root.configurable, ...(i > 0 ? { checkpoint_id: chain[i - 1]?.id } : {}) },
        }));
        return {
          call: (i) => {
            const checkpoint = chain[i] as Checkpoint;
            return saver.put(configs[i] as typeof root, checkpoint, METADATA, checkpoint.channel_versions);
          },
          check: async () => {
            const latest = await saver.getTuple(root);
            if (
              latest?.checkpoint.id !== chain.at(-1)?.id ||
              latest?.checkpoint.channel_values.counter !== CALLS - 1
            ) {
              throw new Error(`saver calls: ${name}.put did not leave its last checkpoint as the latest`);
            }
            await saver.deleteThread(threadId);
          },
        };
      }
      const tasks = Array.from({ length: CALLS }, () => randomUUID());
      // The checkpoint the writes hang on.
      const first = chain[0] as Checkpoint;
      const config = await saver.put(root, first, METADATA, first.channel_versions);
      return {
        call: (i) => saver.putWrites(config, WRITES, tasks[i] as string),
        check: async () => {
          const tuple = await saver.getTuple(config);
          if (tuple?.pendingWrites?.length !== CALLS * WRITES.length) {
            throw new Error(
              `saver calls: ${name}.putWrites read back ${tuple?.pendingWrites?.length} writes`,
            );
          }
          await saver.deleteThread(threadId);
        },
      };
    },
  };
}

function pingContender(client: Redis): Contender {
  return {
    name: "redis.ping",
    wall: [],
    cpu: [],
    prepare: async () => ({
      call: () => client.ping(),
      check: async () => {},
    }),
  };
}

async function timeRound(contender: Contender, round: number, record: boolean): Promise<void> {
  const prepared = await contender.prepare(round);
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) await prepared.call(i);
  const wall = ((performance.now() - start) * 1000) / CALLS;
  const cpuUsed = process.cpuUsage(cpuStart);
  await prepared.check();
  if (!record) return;
  contender.wall.push(wall);
  contender.cpu.push((cpuUsed.user + cpuUsed.system) / CALLS);
}

/** Times every contender in each round, in a seeded shuffled order; medians over the rounds. */
export async function measureSaverCalls(
  savers: Record<SaverName, BaseCheckpointSaver>,
  client: Redis,
): Promise<SaverCallFigures> {
  const contenders: Contender[] = [pingContender(client)];
  for (const call of ["put", "putWrites"] as const) {
    for (const name of ["memory", "sqlite", "redis"] as const) {
      contenders.push(saverContender(name, savers[name], call));
    }
  }
  const random = seededRandom(0x5a7e);
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    for (const contender of shuffled(contenders, random))
      await timeRound(contender, round, round >= WARMUP_ROUNDS);
  }
  const us = Object.fromEntries(
    contenders.map((c) => [c.name, { wall: round1(median(c.wall)), cpu: round1(median(c.cpu)) }]),
  );
  const wall = (name: string) => (us[name] as { wall: number }).wall;
  const over = (top: (call: Call) => string) =>
    Object.fromEntries(
      (["put", "putWrites"] as const).map((call) => [call, round2(wall(top(call)) / wall(`sqlite.${call}`))]),
    ) as Record<Call, number>;
  return {
    note: `${ROUNDS} rounds (+${WARMUP_ROUNDS} warm-up) x ${CALLS} calls awaited one by one per contender, in a shuffled order each round; µs per call, median over rounds; wall and this process's CPU (user + system). put: a chain of checkpoints on a fresh thread, three channels new at each; putWrites: three writes per call (one task each) on one checkpoint. redis.ping: one ioredis PING, what any call that needs a round trip costs at least`,
    us,
    redisOverSqlite: over((call) => `redis.${call}`),
    pingOverSqlite: over(() => "redis.ping"),
  };
}
