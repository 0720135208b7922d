import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { EventBus, jsonlSink, type LedgerEventInput } from "./events.js";
import { Ledger } from "./ledger.js";
import { MemoryLedgerStore } from "./memory-store.js";

const event = (type: LedgerEventInput["type"], key = "k"): LedgerEventInput => ({
  id: `${type}-${key}`,
  type,
  key,
  tool: "t",
  attempt: 0,
  at: 1,
});

describe("EventBus", () => {
  it("delivers events in order to every listener until unsubscribed", () => {
    const bus = new EventBus();
    const a: string[] = [];
    const b: string[] = [];
    const offA = bus.on((e) => a.push(e.type));
    bus.on((e) => b.push(e.type));
    bus.emit([event("claimed"), event("transition")]);
    offA();
    bus.emit([event("replayed")]);
    expect(a).toEqual(["claimed", "transition"]);
    expect(b).toEqual(["claimed", "transition", "replayed"]);
  });

  it("reports a throwing listener as a warning and keeps delivering", () => {
    const bus = new EventBus();
    const seen: string[] = [];
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    bus.on(() => {
      throw new Error("listener bug");
    });
    bus.on((e) => seen.push(e.type));
    bus.emit([event("claimed")]);
    expect(seen).toEqual(["claimed"]);
    expect(warn).toHaveBeenCalledWith(
      "durable-tools event listener threw: Error: listener bug",
      "DurableToolsWarning",
    );
    warn.mockRestore();
  });
});

describe("jsonlSink", () => {
  it("appends every ledger event as one JSON line", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "dt-events-")), "audit.jsonl");
    const sink = jsonlSink(path);
    const ledger = new Ledger({ store: new MemoryLedgerStore() });
    ledger.on(sink.listener);
    const spec = { tool: "send_email", args: { to: "a@example.com" }, submit: () => "sent" };
    await ledger.execute(spec);
    await ledger.execute(spec);
    await sink.close();
    const lines = readFileSync(path, "utf8").trimEnd().split("\n");
    const events = lines.map((line) => JSON.parse(line) as LedgerEventInput);
    expect(events.map((e) => e.type)).toEqual([
      "claimed",
      "transition",
      "transition",
      "transition",
      "replayed",
    ]);
    expect(events[0]).toMatchObject({ tool: "send_email", data: { args: { to: "a@example.com" } } });
    expect(new Set(events.map((e) => e.correlationId)).size).toBe(2);
  });

  it("survives a path it cannot open: warns once, drops the events, and close() rejects with the error", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "dt-events-")), "no-such-dir", "audit.jsonl");
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const sink = jsonlSink(path);
      const ledger = new Ledger({ store: new MemoryLedgerStore() });
      ledger.on(sink.listener);
      const result = await ledger.execute({ tool: "send_email", args: { to: "a" }, submit: () => "sent" });
      expect(result.record.state).toBe("CONFIRMED");
      await expect(sink.close()).rejects.toMatchObject({ code: "ENOENT" });
      await ledger.execute({ tool: "send_email", args: { to: "b" }, submit: () => "sent" });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn).toHaveBeenCalledWith(
        expect.stringMatching(
          /^durable-tools jsonlSink could not write .*audit\.jsonl: ENOENT.*; later events are dropped$/,
        ),
        "DurableToolsWarning",
      );
    } finally {
      warn.mockRestore();
    }
  });

  it("drops an event that comes after close() began, and every close() resolves once the file is closed", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "dt-events-")), "audit.jsonl");
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const sink = jsonlSink(path);
      const late = { id: "e", type: "claimed", key: "k", tool: "t", attempt: 1, at: 0 } as const;
      sink.listener({ ...late, id: "before" } as never);
      const closing = [sink.close(), sink.close()];
      sink.listener({ ...late, id: "after" } as never); // e.g. a lease event that fires while closing
      await Promise.all(closing);
      await sink.close();
      const lines = readFileSync(path, "utf8").trimEnd().split("\n");
      expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(["before"]);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });
});
