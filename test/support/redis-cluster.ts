import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { type RedisServer, startRedisServer } from "./redis-server.js";
import { parseInfo, respCommand } from "./resp.js";

const CLUSTER_READY_TIMEOUT_MS = 15_000;
const CLUSTER_POLL_MS = 100;
const TOTAL_SLOTS = 16_384;

export interface RedisClusterOptions {
  /** Number of masters (no replicas); default 3, minimum 3 (redis-cli --cluster create requires it). */
  masters?: number;
}

export interface RedisCluster {
  /** Seed nodes for an ioredis `Cluster`. */
  nodes: { host: string; port: number }[];
  servers: RedisServer[];
  /** Stops every node by PID (idempotent). */
  stop(): Promise<void>;
}

function runRedisCli(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "redis-cli",
      args,
      { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`redis-cli ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`));
        } else {
          resolve(`${stdout}${stderr}`);
        }
      },
    );
  });
}

async function clusterInfo(server: RedisServer): Promise<Record<string, string>> {
  const reply = await respCommand(server.port, ["CLUSTER", "INFO"], { timeoutMs: 1000 });
  return typeof reply === "string" ? parseInfo(reply) : {};
}

/**
 * Starts `masters` cluster-enabled redis-servers on free ports, joins them with
 * `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`, and waits until every node reports
 * cluster_state:ok, 16384 slots assigned and all nodes known (15 s max).
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  if (masters < 3) throw new Error(`a Redis Cluster needs at least 3 masters, got ${masters}`);

  const servers: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    const results = await Promise.allSettled(
      Array.from({ length: masters }, () => startRedisServer({ cluster: true })),
    );
    for (const result of results) if (result.status === "fulfilled") servers.push(result.value);
    const failed = results.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;

    const addresses = servers.map((server) => `${server.host}:${server.port}`);
    await runRedisCli(
      ["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"],
      30_000,
    );

    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS;
    for (;;) {
      const problems: string[] = [];
      for (const server of servers) {
        try {
          const info = await clusterInfo(server);
          if (info.cluster_state !== "ok")
            problems.push(`${server.port}: cluster_state:${info.cluster_state}`);
          if (info.cluster_slots_assigned !== String(TOTAL_SLOTS)) {
            problems.push(`${server.port}: cluster_slots_assigned:${info.cluster_slots_assigned}`);
          }
          if (info.cluster_known_nodes !== String(masters)) {
            problems.push(`${server.port}: cluster_known_nodes:${info.cluster_known_nodes}`);
          }
        } catch (error) {
          problems.push(`${server.port}: ${(error as Error).message}`);
        }
      }
      if (problems.length === 0) break;
      if (Date.now() >= deadline) {
        throw new Error(
          `Redis Cluster on ${addresses.join(", ")} not ready after ${CLUSTER_READY_TIMEOUT_MS} ms: ${problems.join("; ")}`,
        );
      }
      await sleep(CLUSTER_POLL_MS);
    }
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }

  return {
    nodes: servers.map((server) => ({ host: server.host, port: server.port })),
    servers,
    stop,
  };
}
