/*
 * RedisLedgerStore on Valkey 8 (see test/support/valkey-install.ts): the store conformance suite every
 * store passes, with the native claim (SET NX GET, which Valkey implements as Redis 7 does) and with the
 * claim script, and one ledger call end to end with its ground-truth count.
 */
import { describe, expect, it } from "vitest";
import { isValkeyInfo } from "../../../test/support/valkey-install.js";
import { RedisLedgerStore } from "./redis-ledger-store.js";
import { charge, describeConformanceOn, useRedisServer } from "./test-support.js";

const valkey = useRedisServer({ flavor: "valkey" });

describe("the server these tests run on", () => {
  it("is Valkey, not Redis", async () => {
    const info = await valkey.admin.info("server");
    expect(isValkeyInfo(info)).toBe(true);
    expect(isValkeyInfo(info.replace(/valkey/gi, "redis"))).toBe(false);
  });
});

describeConformanceOn("valkey-server", () => valkey.server, [
  ["", {}],
  [", claims by script", { claimWith: "script" }],
]);

describe("RedisLedgerStore on Valkey", () => {
  it("runs a charge once and replays it, across two stores on two connections", async () => {
    const first = new RedisLedgerStore(valkey.client(), { prefix: "valkey-charge" });
    const second = new RedisLedgerStore(valkey.client(), { prefix: "valkey-charge" });
    const a = charge(first);
    const b = charge(second);
    const [x, y] = await Promise.all([a.call(), b.call()]);
    expect(a.runs() + b.runs()).toBe(1);
    expect(y.result).toEqual(x.result);
    expect([x.replayed, y.replayed].sort()).toEqual([false, true]);
  });
});
