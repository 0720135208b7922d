import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisCluster, startRedisCluster } from "./redis-cluster.js";
import { type RedisServer, startRedisServer } from "./redis-server.js";
import { parseInfo, respCommand } from "./resp.js";

// ioredis is a dev dependency of packages/redis only, so the repository root cannot `import "ioredis"`:
// load it through that package's resolution. Only the few members used here are typed.
interface IORedisClient {
  set(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<string | null>;
  ping(): Promise<string>;
  call(command: string, ...args: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}
interface IORedisModule {
  Redis: new (options: Record<string, unknown>) => IORedisClient;
  Cluster: new (nodes: { host: string; port: number }[], options?: Record<string, unknown>) => IORedisClient;
}
const { Redis, Cluster } = createRequire(new URL("../../packages/redis/package.json", import.meta.url))(
  "ioredis",
) as IORedisModule;

function connect(server: RedisServer, options: Record<string, unknown> = {}): IORedisClient {
  return new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1, ...options });
}

function expectGone(pid: number): void {
  let code: string | undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    code = (error as NodeJS.ErrnoException).code;
  }
  expect(code).toBe("ESRCH");
}

describe("test/support: a real redis-server", () => {
  let server: RedisServer;
  let client: IORedisClient;

  beforeAll(async () => {
    server = await startRedisServer();
    client = connect(server);
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it("listens on 127.0.0.1 on a free port and answers SET/GET through ioredis", async () => {
    expect(server.host).toBe("127.0.0.1");
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(server.port).not.toBe(6379);
    expect(await client.set("greeting", "hello")).toBe("OK");
    expect(await client.get("greeting")).toBe("hello");
    const info = parseInfo(String(await respCommand(server.port, ["INFO", "server"])));
    expect(info.process_id).toBe(String(server.pid));
  });
});

describe("test/support: AOF with appendfsync always", () => {
  let server: RedisServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it("keeps every acknowledged write across SIGKILL + restart", async () => {
    server = await startRedisServer({ appendonly: true, appendfsync: "always" });
    const writer = connect(server);
    try {
      for (let i = 0; i < 100; i++) await writer.set(`key:${i}`, `value:${i}`);
    } finally {
      writer.disconnect();
    }
    const killedPid = server.pid;
    server.kill("SIGKILL");
    await server.restart();
    expect(server.pid).not.toBe(killedPid);
    expectGone(killedPid);

    const reader = connect(server);
    try {
      for (let i = 0; i < 100; i++) expect(await reader.get(`key:${i}`)).toBe(`value:${i}`);
    } finally {
      reader.disconnect();
    }
  });
});

describe("test/support: a frozen server (SIGSTOP/SIGCONT)", () => {
  let server: RedisServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it("times out commands while stopped and answers again after SIGCONT", async () => {
    server = await startRedisServer();
    const client = connect(server, { commandTimeout: 300 });
    try {
      expect(await client.ping()).toBe("PONG");
      server.kill("SIGSTOP");
      await expect(client.set("frozen", "1")).rejects.toThrow(/timed out/i);
      server.kill("SIGCONT");
      expect(await client.set("thawed", "1")).toBe("OK");
      expect(await client.get("thawed")).toBe("1");
    } finally {
      server.kill("SIGCONT");
      client.disconnect();
    }
  });
});

describe("test/support: a 3-master Redis Cluster", () => {
  let cluster: RedisCluster;
  let client: IORedisClient | undefined;

  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it("is ok on every node and serves keys spread over all masters through an ioredis Cluster", async () => {
    expect(cluster.nodes).toHaveLength(3);
    for (const server of cluster.servers) {
      const info = parseInfo(String(await respCommand(server.port, ["CLUSTER", "INFO"])));
      expect(info.cluster_state).toBe("ok");
      expect(info.cluster_slots_assigned).toBe("16384");
    }

    client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
    for (let i = 0; i < 200; i++) await client.set(`spread:${i}`, String(i));
    for (let i = 0; i < 200; i++) expect(await client.get(`spread:${i}`)).toBe(String(i));

    // The keys really are spread: every master holds some of them.
    for (const server of cluster.servers) {
      const keys = Number(await respCommand(server.port, ["DBSIZE"]));
      expect(keys).toBeGreaterThan(0);
    }
  });
});

describe("test/support: stop()", () => {
  it("leaves no process behind, also for a SIGSTOPped server, and is idempotent", async () => {
    const server = await startRedisServer({ appendonly: true });
    const pid = server.pid;
    server.kill("SIGSTOP");
    await server.stop();
    expectGone(pid);
    await server.stop();
  });

  it("stops every cluster node", async () => {
    const cluster = await startRedisCluster();
    const pids = cluster.servers.map((server) => server.pid);
    await cluster.stop();
    for (const pid of pids) expectGone(pid);
  }, 60_000);
});
