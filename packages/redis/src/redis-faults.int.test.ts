import {
  isLedgerUnavailableError,
  Ledger,
  type OperationSpec,
  type Reconciliation,
} from "@durable-tools/core";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, type RedisServer, startRedisServer } from "../../../test/support/redis-server.js";
import { RedisLedgerStore } from "./redis-ledger-store.js";

/** The downstream's ground truth: how many times each key's side effect really ran. */
class GroundTruth {
  readonly runs = new Map<string, number>();
  run(key: string) {
    this.runs.set(key, (this.runs.get(key) ?? 0) + 1);
    return { key, n: this.runs.get(key) };
  }
  reconcile(key: string): Reconciliation<{ key: string; n: number | undefined }> {
    return this.runs.has(key)
      ? { status: "applied", result: { key, n: this.runs.get(key) } }
      : { status: "not_applied" };
  }
}

function client(port: number, timeoutMs: number): Redis {
  // Fail fast while Redis is away: no long offline queue, one retry per command.
  const redis = new Redis(port, "127.0.0.1", {
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  });
  redis.on("error", () => undefined); // connection errors are expected here; calls report them
  return redis;
}

function spec(
  truth: GroundTruth,
  key: string,
): OperationSpec<{ key: string }, { key: string; n: number | undefined }> {
  return {
    tool: "charge",
    args: { key },
    key,
    submit: (args) => truth.run(args.key),
    reconcile: (args) => truth.reconcile(args.key),
  };
}

const servers: RedisServer[] = [];
const clients: Redis[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const s of servers.splice(0)) await s.stop();
});

describe("RedisLedgerStore under Redis faults (real redis-server)", () => {
  it("fails closed when Redis is unreachable: no side effect", async () => {
    const port = await freePort(); // nothing listens here
    const redis = client(port, 300);
    clients.push(redis);
    const truth = new GroundTruth();
    const ledger = new Ledger({ store: new RedisLedgerStore(redis, { operationTimeoutMs: 500 }) });
    const error = await ledger.execute(spec(truth, "k1")).catch((e: unknown) => e);
    expect(isLedgerUnavailableError(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /^The ledger store failed during claim|^Redis ledger claim failed/,
    );
    expect(truth.runs.size).toBe(0);
  });

  it("SIGKILL mid-run, restart with AOF (appendfsync always): no confirmed record lost, nothing runs twice", async () => {
    const server = await startRedisServer({ appendonly: true, appendfsync: "always" });
    servers.push(server);
    const redis = client(server.port, 400);
    clients.push(redis);
    const truth = new GroundTruth();
    const ledger = new Ledger({
      store: new RedisLedgerStore(redis, { operationTimeoutMs: 600 }),
      leaseMs: 300,
      waitTimeoutMs: 2_000,
      retry: { maxAttempts: 2, baseDelayMs: 5 },
    });
    const keys = Array.from({ length: 300 }, (_, i) => `order-${i}`);
    const confirmedBeforeKill: string[] = [];
    let killed = false;
    const failures: unknown[] = [];
    const worker = async (slice: string[]) => {
      for (const key of slice) {
        try {
          await ledger.execute(spec(truth, key));
          if (!killed) confirmedBeforeKill.push(key);
        } catch (error) {
          failures.push(error);
        }
        if (!killed && truth.runs.size >= 120) {
          killed = true;
          server.kill("SIGKILL");
          setTimeout(() => void server.restart(), 300);
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map((w) => worker(keys.filter((_, i) => i % 4 === w))));
    expect(killed).toBe(true);
    expect(failures.length).toBeGreaterThan(0); // the outage was felt...
    for (const failure of failures)
      expect((failure as { code?: string }).code).toMatch(
        /LEDGER_UNAVAILABLE|OPERATION_IN_DOUBT|OPERATION_IN_PROGRESS/,
      );

    // ...and once Redis is back, every operation completes exactly once.
    await server.waitReady();
    await new Promise((resolve) => setTimeout(resolve, 400)); // let leases of interrupted calls expire
    for (const key of keys) {
      for (let attempt = 0; ; attempt++) {
        try {
          await ledger.execute(spec(truth, key));
          break;
        } catch (error) {
          if (attempt > 20) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    }
    const store = new RedisLedgerStore(redis);
    for (const key of confirmedBeforeKill) {
      expect((await store.get(`-/charge/k:${key}`))?.state).toBe("CONFIRMED");
    }
    expect(confirmedBeforeKill.length).toBeGreaterThan(50);
    expect([...truth.runs.values()].every((n) => n === 1)).toBe(true);
    expect(truth.runs.size).toBe(300);
  });

  it("SIGSTOP stalls Redis: calls fail closed at the timeout, and work again after SIGCONT", async () => {
    const server = await startRedisServer();
    servers.push(server);
    const redis = client(server.port, 5_000); // the store's own deadline must do the work
    clients.push(redis);
    const truth = new GroundTruth();
    const ledger = new Ledger({
      store: new RedisLedgerStore(redis, { operationTimeoutMs: 300 }),
      leaseMs: 500,
    });
    await ledger.execute(spec(truth, "before"));
    server.kill("SIGSTOP");
    try {
      const error = await ledger.execute(spec(truth, "stalled")).catch((e: unknown) => e);
      expect(isLedgerUnavailableError(error)).toBe(true);
      expect((error as Error).message).toContain("no answer within 300 ms");
      expect(truth.runs.has("stalled")).toBe(false);
    } finally {
      server.kill("SIGCONT");
    }
    const after = await ledger.execute(spec(truth, "after"));
    expect(after.effect).toBe("created");
    // The stalled claim reached Redis late; once its lease expires the key is reconciled, not repeated.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const stalled = await ledger.execute(spec(truth, "stalled"));
    expect(stalled.replayed).toBe(false);
    expect([...truth.runs.entries()]).toEqual([
      ["before", 1],
      ["after", 1],
      ["stalled", 1],
    ]);
  });

  it("gives a claim one operationTimeoutMs in all, however many round trips it takes", async () => {
    const server = await startRedisServer();
    servers.push(server);
    const redis = client(server.port, 5_000);
    clients.push(redis);
    const store = new RedisLedgerStore(redis, { operationTimeoutMs: 250 });
    const truth = new GroundTruth();
    const ledger = new Ledger({ store });
    // The store has seen the key, then its record goes (as a record expires): the next claim makes a
    // GET, then a SET NX GET.
    await ledger.execute(spec(truth, "k"));
    const [record] = await redis.keys("*:rec");
    await redis.del(record as string);
    // A slow link: each of the two round trips takes 150 ms, within the timeout alone, not together.
    for (const command of ["get", "set"] as const) {
      const send = redis[command].bind(redis) as (...args: unknown[]) => Promise<unknown>;
      (redis as unknown as Record<string, unknown>)[command] = async (...args: unknown[]) => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        return send(...args);
      };
    }
    const error = await ledger.execute(spec(truth, "k")).catch((e: unknown) => e);
    expect(isLedgerUnavailableError(error)).toBe(true);
    expect((error as Error).message).toContain("claim failed: no answer within 250 ms");
    expect(truth.runs.get("k")).toBe(1);
  });

  it("stops a claim at a round trip that timed out: nothing is written after it", async () => {
    const server = await startRedisServer();
    servers.push(server);
    const redis = client(server.port, 5_000);
    const admin = client(server.port, 5_000);
    clients.push(redis, admin);
    const truth = new GroundTruth();
    const ledger = new Ledger({ store: new RedisLedgerStore(redis, { operationTimeoutMs: 100 }) });
    // The store has seen the key, then its record goes: the next claim makes a GET, then a SET NX GET.
    await ledger.execute(spec(truth, "k"));
    const [record] = await redis.keys("*:rec");
    await redis.del(record as string);
    // Redis answers nothing for 400 ms: the GET times out, and answers (null) once the pause ends.
    await admin.call("CLIENT", "PAUSE", "400", "ALL");
    const error = await ledger.execute(spec(truth, "k")).catch((e: unknown) => e);
    expect(isLedgerUnavailableError(error)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 700));
    // The claim did not go on to create a record for an owner nobody runs (it would hold the key).
    expect(await admin.exists(record as string)).toBe(0);
    expect(truth.runs.get("k")).toBe(1);
  });
});
