import { IdempotencyConflictError, Ledger, MemoryLedgerStore, StaleOwnerError } from "@durable-tools/core";
import { ToolInputParsingException, tool } from "@langchain/core/tools";
import { describe, expect, it, vi } from "vitest";
import { z } from "zod/v4";
import { APPROVAL_TOOL } from "./approval.js";
import { durableTool } from "./durable-tool.js";
import { ApprovalAlreadyUsedError } from "./errors.js";
import { type Approval, approve, withDurableOptions } from "./run-config.js";
import { callTool, thread } from "./test-support.js";

const schema = z.object({ customer: z.string(), cents: z.number() });
const args = { customer: "acme", cents: 5000 };

interface RefundToolOptions {
  store?: MemoryLedgerStore;
  onError?: "throw";
  leaseMs?: number;
  businessKey?: (a: typeof args) => string;
  /** What submit waits for before it refunds. */
  hold?: Promise<void>;
  /** The ledger's clock. */
  now?: () => number;
  recordTtlMs?: number;
}

function refundTool(options: RefundToolOptions = {}) {
  const { store = new MemoryLedgerStore(), onError, businessKey, hold, ...ledgerOptions } = options;
  const counter = { refunds: 0 };
  const ledger = new Ledger({ store, ...ledgerOptions });
  const refund = durableTool({
    name: "refund",
    description: "Refund a customer.",
    schema,
    sideEffect: "destructive",
    ledger,
    ...(onError ? { onError } : {}),
    ...(businessKey ? { businessKey } : {}),
    submit: async () => {
      await hold;
      return { refund: ++counter.refunds };
    },
  });
  const invoke = async (callArgs: object, threadId: string, approvals: Approval[]) =>
    (await callTool(refund, callArgs, withDurableOptions(thread(threadId), { approvals }))).envelope;
  return { counter, invoke, refund, ledger, store };
}

describe("an approval authorises exactly one operation", () => {
  it("is refused for other idempotency keys and other threads, and still replays its own operation", async () => {
    const { counter, invoke } = refundTool();
    const approvals = [approve("refund", args, "alice")];
    const first = await invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals);
    expect(first).toMatchObject({ ok: true, effect: "created", data: { refund: 1 } });

    for (const [key, threadId] of [
      ["r-2", "t1"],
      ["r-3", "t1"],
      [undefined, "t2"],
    ] as const) {
      const other = await invoke(key ? { ...args, idempotency_key: key } : args, threadId, approvals);
      expect(other).toMatchObject({ ok: false, error: { code: "APPROVAL_ALREADY_USED", retryable: false } });
      expect(other.error.message).toContain(`already used by another operation (${first.key})`);
    }
    const replay = await invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals);
    expect(replay).toMatchObject({ ok: true, effect: "noop", replayed: true, data: { refund: 1 } });
    expect(counter.refunds).toBe(1);

    // A second approval authorises a second operation.
    const second = await invoke({ ...args, idempotency_key: "r-2" }, "t1", [
      ...approvals,
      approve("refund", args, "bob"),
    ]);
    expect(second).toMatchObject({ ok: true, effect: "created", data: { refund: 2 } });
    expect(counter.refunds).toBe(2);
  });

  it("holds across processes sharing the store, and throws a typed error with onError throw", async () => {
    const store = new MemoryLedgerStore();
    const approvals = [approve("refund", args, "alice")];
    const a = refundTool({ store });
    const b = refundTool({ store, onError: "throw" });
    expect(await a.invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals)).toMatchObject({ ok: true });
    const config = withDurableOptions(thread("t1"), { approvals });
    await expect(callTool(b.refund, { ...args, idempotency_key: "r-9" }, config)).rejects.toBeInstanceOf(
      ApprovalAlreadyUsedError,
    );
    expect(a.counter.refunds + b.counter.refunds).toBe(1);
  });

  it("is not stuck when the store fails before the approval's use is confirmed: the next call goes on", async () => {
    class FlakyStore extends MemoryLedgerStore {
      failures = 1;
      override async transition(request: Parameters<MemoryLedgerStore["transition"]>[0]) {
        const confirming = request.path.at(-1) === "CONFIRMED" && request.key.includes(APPROVAL_TOOL);
        if (confirming && this.failures-- > 0) throw new Error("connection reset while confirming");
        return super.transition(request);
      }
    }
    // A short lease: the failed call's hold on the approval's record runs out at once.
    const { counter, invoke } = refundTool({ store: new FlakyStore(), leaseMs: 20 });
    const approvals = [approve("refund", args, "alice")];
    const first = await invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals);
    expect(first).toMatchObject({ ok: false, error: { code: "LEDGER_UNAVAILABLE" } });
    expect(counter.refunds).toBe(0);
    // The next call takes the approval's record over and writes the use again (it is pure), where it
    // used to meet an operation in doubt for ever.
    const again = await invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals);
    expect(again).toMatchObject({ ok: true, effect: "created", data: { refund: 1 } });
    expect(counter.refunds).toBe(1);
  });

  it("names the tool's operation, not the approval's record, when consuming the approval fails", async () => {
    // The approval's record is taken over by another worker while this call confirms its use.
    class TakenOverStore extends MemoryLedgerStore {
      override async transition(request: Parameters<MemoryLedgerStore["transition"]>[0]) {
        if (request.path.at(-1) === "CONFIRMED" && request.key.includes(APPROVAL_TOOL)) {
          throw new StaleOwnerError(request.key, "another worker took the operation over");
        }
        return super.transition(request);
      }
    }
    const { counter, refund, ledger } = refundTool({ store: new TakenOverStore() });
    const config = withDurableOptions(thread("t1"), { approvals: [approve("refund", args, "alice")] });
    const { envelope, record } = await callTool(refund, { ...args, idempotency_key: "r-1" }, config);
    expect(envelope).toMatchObject({ ok: false, error: { code: "STALE_OWNER" } });
    expect(envelope.error.message).toContain(APPROVAL_TOOL);
    expect(envelope.key).toMatch(/^-\/refund\/k:s:[0-9a-f]+\/r-1$/);
    expect(record).toBeUndefined();
    expect(await ledger.get(envelope.key)).toBeUndefined(); // released: nothing was submitted
    expect(counter.refunds).toBe(0);
  });

  it("binds hand-built approvals (no id) by their content", async () => {
    const { counter, invoke } = refundTool();
    const { id: _id, ...handBuilt } = approve("refund", args, "alice");
    const approvals = [handBuilt as Approval];
    expect(await invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals)).toMatchObject({ ok: true });
    const other = await invoke({ ...args, idempotency_key: "r-2" }, "t1", [{ ...handBuilt }]);
    expect(other.error.code).toBe("APPROVAL_ALREADY_USED");
    expect(counter.refunds).toBe(1);
  });
});

describe("an approval is consumed only by an operation that is about to run", () => {
  const otherArgs = { customer: "acme", cents: 6000 };

  it("stays usable after its call met IDEMPOTENCY_CONFLICT (an explicit key): a fresh key runs once with it", async () => {
    const { counter, invoke } = refundTool();
    const first = await invoke({ ...args, idempotency_key: "r-1" }, "t1", [approve("refund", args, "alice")]);
    expect(first).toMatchObject({ ok: true, effect: "created", data: { refund: 1 } });

    const approvalB = approve("refund", otherArgs, "bob");
    const conflict = await invoke({ ...otherArgs, idempotency_key: "r-1" }, "t1", [approvalB]);
    expect(conflict).toEqual({
      ok: false,
      key: first.key,
      error: { code: "IDEMPOTENCY_CONFLICT", message: expect.any(String), retryable: false },
    });
    expect(counter.refunds).toBe(1);

    const fresh = await invoke({ ...otherArgs, idempotency_key: "r-2" }, "t1", [approvalB]);
    expect(fresh).toMatchObject({ ok: true, effect: "created", replayed: false, data: { refund: 2 } });
    expect(counter.refunds).toBe(2);
  });

  it("stays usable after its call threw IdempotencyConflictError (a businessKey, onError throw)", async () => {
    const { counter, refund, invoke } = refundTool({
      businessKey: (a) => `refund-${a.customer}`,
      onError: "throw",
    });
    const first = await invoke(args, "t1", [approve("refund", args, "alice")]);
    expect(first).toMatchObject({ ok: true, effect: "created", data: { refund: 1 } });

    const approvalB = approve("refund", otherArgs, "bob");
    const config = withDurableOptions(thread("t1"), { approvals: [approvalB] });
    const conflict = callTool(refund, otherArgs, config);
    await expect(conflict).rejects.toBeInstanceOf(IdempotencyConflictError);
    await expect(conflict).rejects.toMatchObject({ code: "IDEMPOTENCY_CONFLICT", key: first.key });

    const fresh = await invoke({ ...otherArgs, idempotency_key: "r-2" }, "t1", [approvalB]);
    expect(fresh).toMatchObject({ ok: true, effect: "created", data: { refund: 2 } });
    expect(counter.refunds).toBe(2);
  });

  it("is not consumed, and the store not touched, when the call is refused as unapproved", async () => {
    const { counter, invoke, ledger, store } = refundTool();
    const approvalA = approve("refund", args, "alice");
    const refused = await invoke({ ...otherArgs, idempotency_key: "r-1" }, "t1", [approvalA]);
    expect(refused).toMatchObject({ ok: false, error: { code: "APPROVAL_REQUIRED", retryable: false } });
    expect(await ledger.readEvents()).toEqual([]);
    expect(await store.listInDoubt({ now: Date.now(), includeUnfinished: true })).toEqual([]);

    const approved = await invoke({ ...args, idempotency_key: "r-1" }, "t1", [approvalA]);
    expect(approved).toMatchObject({ ok: true, effect: "created", data: { refund: 1 } });
    expect(counter.refunds).toBe(1);
  });

  it("expires by the ledger's clock", async () => {
    let now = Date.now() + 60_000;
    const { counter, invoke } = refundTool({ now: () => now });
    const approval = approve("refund", args, "alice", Date.now() + 30_000);
    const expired = await invoke({ ...args, idempotency_key: "r-1" }, "t1", [approval]);
    expect(expired).toMatchObject({ ok: false, error: { code: "APPROVAL_REQUIRED" } });
    now = Date.now();
    expect(await invoke({ ...args, idempotency_key: "r-1" }, "t1", [approval])).toMatchObject({ ok: true });
    expect(counter.refunds).toBe(1);
  });

  it("is consumed once by concurrent calls with one key: a duplicate's approval stays free", async () => {
    let release!: () => void;
    const { counter, invoke, ledger } = refundTool({ hold: new Promise<void>((r) => (release = r)) });
    const seen: string[] = [];
    ledger.on((event) => {
      if (event.type !== "transition") seen.push(`${event.tool}:${event.type}`);
    });
    const [alice, bob] = [approve("refund", args, "alice"), approve("refund", args, "bob")];
    const first = invoke({ ...args, idempotency_key: "r-1" }, "t1", [alice]);
    await vi.waitFor(() => expect(seen).toContain(`${APPROVAL_TOOL}:claimed`));
    const duplicate = invoke({ ...args, idempotency_key: "r-1" }, "t1", [bob]);
    await vi.waitFor(() => expect(seen).toContain("refund:waiting"));
    release();
    expect(await first).toMatchObject({ ok: true, effect: "created", data: { refund: 1 } });
    expect(await duplicate).toMatchObject({ ok: true, effect: "noop", replayed: true, data: { refund: 1 } });
    expect(seen).toEqual(["refund:claimed", `${APPROVAL_TOOL}:claimed`, "refund:waiting", "refund:replayed"]);

    // Bob's approval was never used: it authorises one more operation, and then both are used.
    const both = [alice, bob];
    expect(await invoke({ ...args, idempotency_key: "r-2" }, "t1", both)).toMatchObject({
      ok: true,
      data: { refund: 2 },
    });
    const third = await invoke({ ...args, idempotency_key: "r-3" }, "t1", both);
    expect(third).toMatchObject({ ok: false, error: { code: "APPROVAL_ALREADY_USED" } });
    expect(counter.refunds).toBe(2);
  });
});

describe("tool.approve() approves the tool call the model made", () => {
  function refundWithDefault() {
    const counter = { refunds: 0 };
    const refund = durableTool({
      name: "refund",
      description: "Refund a customer.",
      schema: z.object({ customer: z.string(), cents: z.number(), reason: z.string().default("requested") }),
      sideEffect: "destructive",
      ledger: new Ledger({ store: new MemoryLedgerStore() }),
      submit: (a: { reason: string }) => ({ refund: ++counter.refunds, reason: a.reason }),
    });
    const invoke = async (callArgs: object, approvals: Approval[]) =>
      (await callTool(refund, callArgs, withDurableOptions(thread("t1"), { approvals }))).envelope;
    return { counter, refund, invoke };
  }
  // What the model sent: a defaulted field omitted, and its own idempotency_key.
  const omitted = { customer: "bob", cents: 100 };
  const keyed = { customer: "bob", cents: 100, reason: "requested", idempotency_key: "k-bob" };

  it("matches where approve(name, toolCall.args) cannot: defaults filled in, idempotency_key dropped", async () => {
    const { counter, refund, invoke } = refundWithDefault();
    for (const callArgs of [omitted, keyed]) {
      const refused = await invoke(callArgs, [approve("refund", callArgs, "alice")]);
      expect(refused.error).toEqual({
        code: "APPROVAL_REQUIRED",
        message: expect.stringContaining(
          'approvals = [await tool.approve(toolCall.args, approver)], where tool is this durable tool (its approve() parses the arguments through the tool\'s schema and drops idempotency_key, as this check does; approve("refund", args, approver) needs them already in that form).',
        ),
        retryable: false,
      });
    }
    expect(counter.refunds).toBe(0);

    const first = await invoke(omitted, [await refund.approve(omitted, "alice")]);
    expect(first).toMatchObject({ ok: true, effect: "created", data: { refund: 1, reason: "requested" } });
    const second = await invoke(keyed, [await refund.approve(keyed, "alice")]);
    expect(second).toMatchObject({ ok: true, effect: "created", data: { refund: 2, reason: "requested" } });
    expect(counter.refunds).toBe(2);
  });

  it("returns the Approval approve() builds for the normalised arguments, takes a whole tool call, and honours expiresAt", async () => {
    const { counter, refund, invoke } = refundWithDefault();
    const normalised = { customer: "bob", cents: 100, reason: "requested" };
    const approval = await refund.approve(
      { type: "tool_call", id: "c1", name: "refund", args: keyed },
      "alice",
      { expiresAt: 4_102_444_800_000 },
    );
    const { id, ...rest } = approval;
    const { id: _other, ...expected } = approve("refund", normalised, "alice", 4_102_444_800_000);
    expect(rest).toEqual(expected);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await refund.approve(omitted, "alice")).toMatchObject({ fingerprint: approval.fingerprint });
    // A tool call as an AIMessage's tool_calls may hold it, without `type`.
    const untyped = await refund.approve({ id: "c1", name: "refund", args: keyed }, "alice");
    expect(untyped.fingerprint).toBe(approval.fingerprint);

    const expired = await invoke(keyed, [
      await refund.approve(keyed, "alice", { expiresAt: Date.now() - 1 }),
    ]);
    expect(expired.error.code).toBe("APPROVAL_REQUIRED");
    // One approval, one operation: still true when it was made with tool.approve().
    expect(await invoke(keyed, [approval])).toMatchObject({ ok: true, data: { refund: 1 } });
    expect((await invoke(omitted, [approval])).error.code).toBe("APPROVAL_ALREADY_USED");
    expect(counter.refunds).toBe(1);
  });

  it("rejects arguments the schema refuses with LangChain's ToolInputParsingException", async () => {
    const { refund } = refundWithDefault();
    const rejected = refund.approve({ customer: "bob", cents: "100" }, "alice");
    await expect(rejected).rejects.toBeInstanceOf(ToolInputParsingException);
    await expect(rejected).rejects.toThrow(
      /^Received tool input did not match expected schema\n\n.*expected number/s,
    );
  });

  it("parses through a wrapped tool's schema (transforms applied) and validates a JSON schema", async () => {
    const charged: number[] = [];
    const charge = tool(async ({ cents }: { cents: number }) => charged.push(cents), {
      name: "charge",
      description: "Charge an amount given in dollars.",
      schema: z.object({ cents: z.number().transform((d) => Math.round(d * 100)) }),
    });
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    const durable = durableTool(charge, { sideEffect: "destructive", ledger });
    const callArgs = { cents: 5, idempotency_key: "pay-1" };
    expect(await durable.approve(callArgs, "alice")).toMatchObject({
      fingerprint: approve("charge", { cents: 500 }, "alice").fingerprint,
    });
    const config = withDurableOptions({}, { approvals: [await durable.approve(callArgs, "alice")] });
    expect((await callTool(durable, callArgs, config)).envelope).toMatchObject({
      ok: true,
      effect: "created",
    });
    expect(charged).toEqual([500]);

    const json = durableTool({
      name: "wipe",
      description: "Wipe a disk.",
      schema: { type: "object", properties: { disk: { type: "string" } }, required: ["disk"] },
      sideEffect: "destructive",
      ledger,
      submit: () => "wiped",
    });
    expect(await json.approve({ disk: "d1", idempotency_key: "w-1" }, "alice")).toMatchObject({
      fingerprint: approve("wipe", { disk: "d1" }, "alice").fingerprint,
    });
    await expect(json.approve({ disk: 1 }, "alice")).rejects.toBeInstanceOf(ToolInputParsingException);
  });
});

describe("a call without a live approval", () => {
  const refused = { ok: false, error: { code: "APPROVAL_REQUIRED", retryable: false } };

  it("replays its finished operation (the approval guarded the first submission only)", async () => {
    const { counter, invoke, ledger } = refundTool();
    const first = await invoke({ ...args, idempotency_key: "r-1" }, "t1", [approve("refund", args, "alice")]);
    expect(first).toMatchObject({ ok: true, effect: "created", data: { refund: 1 } });
    const replay = await invoke({ ...args, idempotency_key: "r-1" }, "t1", []);
    expect(replay).toMatchObject({
      ok: true,
      effect: "noop",
      replayed: true,
      key: first.key,
      data: { refund: 1 },
    });
    // Anything that could submit still needs one: another key, or other arguments under this key.
    const other = await invoke({ ...args, idempotency_key: "r-2" }, "t1", []);
    expect(other).toMatchObject(refused);
    expect(other.error.message).toContain("Nothing was executed");
    expect(await ledger.get(other.key)).toBeUndefined();
    expect(await invoke({ ...args, cents: 1, idempotency_key: "r-1" }, "t1", [])).toMatchObject(refused);
    expect(counter.refunds).toBe(1);
    expect((await ledger.get(first.key))?.state).toBe("CONFIRMED");
  });

  it("replays a stored failure, but is refused for an operation in doubt", async () => {
    const declined = Promise.reject(Object.assign(new Error("card declined"), { status: 402 }));
    declined.catch(() => {});
    const failing = refundTool({ hold: declined });
    const approvals = [approve("refund", args, "alice")];
    const failed = await failing.invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals);
    expect(failed).toMatchObject({ ok: false, error: { code: "OPERATION_FAILED" } });
    const replayed = await failing.invoke({ ...args, idempotency_key: "r-1" }, "t1", []);
    expect(replayed).toMatchObject({ ok: false, key: failed.key, error: { code: "OPERATION_FAILED" } });
    expect((await failing.ledger.get(failed.key))?.state).toBe("FAILED");

    const timedOut = Promise.reject(Object.assign(new Error("read ETIMEDOUT"), { code: "ETIMEDOUT" }));
    timedOut.catch(() => {});
    const doubtful = refundTool({ hold: timedOut });
    const inDoubt = await doubtful.invoke({ ...args, idempotency_key: "r-1" }, "t1", approvals);
    expect(inDoubt).toMatchObject({ ok: false, error: { code: "OPERATION_IN_DOUBT" } });
    expect(await doubtful.invoke({ ...args, idempotency_key: "r-1" }, "t1", [])).toMatchObject(refused);
    expect((await doubtful.ledger.get(inDoubt.key))?.state).toBe("SUBMITTED");
    expect(failing.counter.refunds + doubtful.counter.refunds).toBe(0);
  });

  it("is refused when the finished record expired before the call could replay it", async () => {
    let now = Date.now();
    const { counter, invoke, ledger } = refundTool({ now: () => now, recordTtlMs: 1000 });
    const first = await invoke({ ...args, idempotency_key: "r-1" }, "t1", [approve("refund", args, "alice")]);
    expect(first).toMatchObject({ ok: true, data: { refund: 1 } });
    now += 2000; // still readable, but a new claim creates the operation afresh
    expect((await ledger.get(first.key))?.state).toBe("CONFIRMED");
    expect(await invoke({ ...args, idempotency_key: "r-1" }, "t1", [])).toMatchObject(refused);
    expect(counter.refunds).toBe(1);
    expect(await ledger.get(first.key)).toBeUndefined(); // released by the refusing authorize hook
  });
});
