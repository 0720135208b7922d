/*
 * A store call whose reply is lost with the connection: the command ran in Redis, ioredis reconnects
 * and sends it again (autoResendUnfulfilledCommands, on by default). A real loopback TCP proxy between
 * ioredis and redis-server drops the connection instead of relaying that one reply. The call must come
 * out as if the reply had arrived: a claim must not find its own new record "in progress" (and wait for
 * its own lease), a confirm must not find its own write "stale".
 */
import { Ledger, type LedgerEvent } from "@durable-tools/core";
import { claimRequest, T0, testEvent } from "@durable-tools/core/testing";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  type ReplyDroppingProxy,
  startReplyDroppingProxy,
} from "../../../test/support/reply-dropping-proxy.js";
import { RedisLedgerStore, type RedisLedgerStoreOptions } from "./redis-ledger-store.js";
import { useRedisServer } from "./test-support.js";

const redis = useRedisServer();
const proxies: ReplyDroppingProxy[] = [];
const clients: Redis[] = [];
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all(proxies.map((proxy) => proxy.close()));
});

const modes: [string, RedisLedgerStoreOptions][] = [
  ["a native claim", {}],
  ["a claim by script (Redis 6.2)", { claimWith: "script" }],
];

/** Which request's reply the proxy loses: the claim's (it names the new record) or the confirm's. */
const lost = {
  claim: (request: string) => request.includes("\r\nSUBMITTED\n"),
  confirm: (request: string) => request.includes("\r\nCONFIRMED\r\n"),
};

async function runThroughLostReply(
  options: RedisLedgerStoreOptions,
  which: keyof typeof lost,
  prefix: string,
) {
  const proxy = await startReplyDroppingProxy(redis.server.port);
  proxies.push(proxy);
  const client = new Redis({ host: "127.0.0.1", port: proxy.port });
  clients.push(client);
  const store = new RedisLedgerStore(client, { prefix, ...options });
  // A lease far longer than the test: a claim that mistook its own record for another owner's would wait.
  const ledger = new Ledger({ store, leaseMs: 600_000, waitTimeoutMs: 2_000 });
  // Warm the scripts and the connection, so the lost reply is the command's own, not NOSCRIPT's.
  await ledger.execute({ tool: "warm", key: "w", args: {}, submit: () => "ok" });
  proxy.dropReplyTo(lost[which]);
  let charges = 0;
  const result = await ledger.execute({
    tool: "charge",
    key: "order-1",
    args: { cents: 500 },
    submit: () => {
      charges++;
      return { id: `ch_${charges}` };
    },
  });
  const events = await new RedisLedgerStore(redis.admin, { prefix }).readEvents({ key: result.key });
  return { proxy, result, charges, events };
}

/** Each event's type, or for a transition its states. */
const transitions = (events: LedgerEvent[]) =>
  events.map((event) => (event.type === "transition" ? `${event.from}>${event.to}` : event.type));

/** What each lost reply must not turn into (see the file's comment). */
const outcomes = {
  claim: "takes its own new record as created",
  confirm: "takes its own applied write as done",
} as const;

describe("RedisLedgerStore when the reply to a call is lost and ioredis sends the call again", () => {
  for (const [mode, options] of modes) {
    for (const which of ["claim", "confirm"] as const) {
      it(`a ${which} (${mode}) ${outcomes[which]}: one side effect, its result, its events once`, async () => {
        const { proxy, result, charges, events } = await runThroughLostReply(
          options,
          which,
          `resend-${which}-${options.claimWith ?? "native"}`,
        );
        expect(proxy.requests.length).toBe(2); // sent, and sent again on the new connection
        expect(proxy.dropped).toHaveLength(1);
        expect(charges).toBe(1);
        expect(result).toMatchObject({ result: { id: "ch_1" }, effect: "created", replayed: false });
        expect(result.record.state).toBe("CONFIRMED");
        // Each change's events are in the stream once, though its command ran twice.
        expect(transitions(events)).toEqual([
          "claimed",
          "PENDING>VALIDATED",
          "VALIDATED>SUBMITTED",
          "SUBMITTED>CONFIRMED",
        ]);
      });
    }
  }
});

describe("RedisLedgerStore does not take a new transition for a re-sent one", () => {
  it("applies a second transition of one run at the same millisecond, same state and attempt, other events", async () => {
    const store = new RedisLedgerStore(redis.client(), { prefix: "resend-same-ms" });
    const key = "k";
    const fence = { key, owner: "owner-a", fencingToken: 1 };
    await store.claim(claimRequest(key));
    const first = testEvent(key, "transition", { n: 1 });
    const second = testEvent(key, "transition", { n: 2 });
    const submit = { ...fence, now: T0, from: "PENDING", path: ["VALIDATED", "SUBMITTED"] } as const;
    await store.transition({ ...submit, patch: { attempt: 1 }, events: [first] });
    // The same target state, attempt, owner and time as the write before it: only its events differ.
    const again = { ...fence, now: T0, from: "SUBMITTED", path: ["SUBMITTED"] } as const;
    await store.transition({ ...again, patch: { attempt: 1, reason: "second" }, events: [second] });
    expect((await store.get(key))?.reason).toBe("second");
    const data = (await store.readEvents({ key })).map((event) => event.data);
    expect(data.slice(-2)).toEqual([{ n: 1 }, { n: 2 }]);
  });
});

describe("RedisLedgerStore: a release re-sent after its first run deleted the record", () => {
  it("resolves, and the release's events are in the stream once", async () => {
    const proxy = await startReplyDroppingProxy(redis.server.port);
    proxies.push(proxy);
    const client = new Redis({ host: "127.0.0.1", port: proxy.port });
    clients.push(client);
    const store = new RedisLedgerStore(client, { prefix: "resend-release" });
    const { record } = await store.claim(claimRequest("k"));
    await store.get("k"); // the connection is up and the scripts' first use is behind
    const released = testEvent("k", "released", { marker: "lost-release-reply" });
    proxy.dropReplyTo("lost-release-reply");
    await store.release({
      key: "k",
      owner: "owner-a",
      fencingToken: record.fencingToken,
      events: [released],
    });
    expect(proxy.requests.length).toBe(2);
    expect(proxy.dropped).toHaveLength(1);
    expect(await store.get("k")).toBeUndefined();
    const types = (await store.readEvents({ key: "k" })).map((event) => event.type);
    expect(types).toEqual(["claimed", "released"]);
  });
});

describe("RedisLedgerStore: a native claim re-sent after another caller wrote the operation's events", () => {
  it("still takes its own new record as created (the pending line moved to the stream meanwhile)", async () => {
    const proxy = await startReplyDroppingProxy(redis.server.port);
    proxies.push(proxy);
    // A reconnect slow enough for another client's write to land before the claim is sent again.
    const client = new Redis({ host: "127.0.0.1", port: proxy.port, retryStrategy: () => 300 });
    clients.push(client);
    const prefix = "resend-pending";
    const store = new RedisLedgerStore(client, { prefix });
    await store.get("k"); // the connection is up
    proxy.dropReplyTo((request) => request.includes("\r\nPENDING\n"));
    const claiming = store.claim(claimRequest("k"));
    await vi.waitFor(() => expect(proxy.dropped).toHaveLength(1));
    // Another worker that found the record in flight reports that it waits (persistEvents "all").
    const waiting = testEvent("k", "waiting");
    await new RedisLedgerStore(redis.admin, { prefix }).appendEvents([waiting]);
    const claimed = await claiming;
    expect(claimed.outcome).toBe("created");
    expect(claimed.record).toMatchObject({ owner: "owner-a", fencingToken: 1, state: "PENDING" });
    const types = (await store.readEvents({ key: "k" })).map((event) => event.type);
    expect(types).toEqual(["claimed", "waiting"]);
  });
});

describe("RedisLedgerStore: a call re-sent after other writes landed between its first run and the resend", () => {
  /** The claimed record moved to SUBMITTED, attempt 1, at T0. */
  const submitted = (store: RedisLedgerStore, fence: { key: string; owner: string; fencingToken: number }) =>
    store.transition({
      ...fence,
      now: T0,
      from: "PENDING",
      path: ["VALIDATED", "SUBMITTED"],
      patch: { attempt: 1 },
      events: [],
    });

  /** A store on a connection through a proxy that reconnects slowly enough for another write to land. */
  async function slowReconnectStore(prefix: string) {
    const proxy = await startReplyDroppingProxy(redis.server.port);
    proxies.push(proxy);
    const client = new Redis({ host: "127.0.0.1", port: proxy.port, retryStrategy: () => 300 });
    clients.push(client);
    const store = new RedisLedgerStore(client, { prefix });
    const { record } = await store.claim(claimRequest("k")); // the connection is up, the scripts loaded
    const fence = { key: "k", owner: "owner-a", fencingToken: record.fencingToken };
    const other = new RedisLedgerStore(redis.admin, { prefix });
    return { proxy, store, fence, other };
  }

  it("a confirm whose reply was lost, then another caller's events: resolves, its events once", async () => {
    const { proxy, store, fence, other } = await slowReconnectStore("resend-confirm-append");
    await submitted(store, fence);
    proxy.dropReplyTo("lost-confirm-reply");
    const confirming = store.transition({
      ...fence,
      now: T0 + 10,
      from: "SUBMITTED",
      path: ["CONFIRMED"],
      patch: { result: { id: "ch_1" } },
      events: [testEvent("k", "transition", { marker: "lost-confirm-reply" })],
    });
    await vi.waitFor(() => expect(proxy.dropped).toHaveLength(1));
    await other.appendEvents([testEvent("k", "replayed")]);
    expect(await confirming).toMatchObject({ state: "CONFIRMED", result: { id: "ch_1" } });
    const types = (await store.readEvents({ key: "k" })).map((event) => event.type);
    expect(types).toEqual(["claimed", "transition", "replayed"]);
  });

  it("a release whose reply was lost, then another caller's events: resolves, its events once", async () => {
    const { proxy, store, fence, other } = await slowReconnectStore("resend-release-append");
    proxy.dropReplyTo("lost-release-reply");
    const releasing = store.release({
      ...fence,
      events: [testEvent("k", "released", { marker: "lost-release-reply" })],
    });
    await vi.waitFor(() => expect(proxy.dropped).toHaveLength(1));
    await other.appendEvents([testEvent("k", "waiting")]);
    await releasing;
    expect(await store.get("k")).toBeUndefined();
    const types = (await store.readEvents({ key: "k" })).map((event) => event.type);
    expect(types).toEqual(["claimed", "released", "waiting"]);
  });

  it("a retry (SUBMITTED -> SUBMITTED) whose reply was lost, a lease renewal landing after it: its events once", async () => {
    const { proxy, store, fence } = await slowReconnectStore("resend-retry-renew");
    await submitted(store, fence);
    proxy.dropReplyTo("lost-retry-reply");
    const retrying = store.transition({
      ...fence,
      now: T0 + 10,
      from: "SUBMITTED",
      path: ["SUBMITTED"],
      patch: { attempt: 2 },
      events: [testEvent("k", "transition", { marker: "lost-retry-reply" })],
    });
    // The owner's renewal timer, not awaited by its transitions: on the wire right behind the retry.
    const renewing = store.renewLease({ ...fence, now: T0 + 5, leaseExpiresAt: T0 + 5 + 60_000 });
    const [retried] = await Promise.all([retrying, renewing]);
    expect(retried).toMatchObject({ state: "SUBMITTED", attempt: 2 });
    const stored = await store.get("k");
    // Neither time nor lease went back when the renewal landed after the retry.
    expect(stored?.updatedAt).toBeGreaterThanOrEqual(T0 + 10);
    const types = (await store.readEvents({ key: "k" })).map((event) => event.type);
    expect(types).toEqual(["claimed", "transition"]);
  });
});
