import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isOperationInDoubtError, Ledger } from "@durable-tools/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RedisLedgerStore } from "./redis-ledger-store.js";
import { useRedisServer } from "./test-support.js";

const CHILD = fileURLToPath(new URL("./testing/background-confirmation-child.ts", import.meta.url));
const LEASE_MS = 400;

const redis = useRedisServer();
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "dt-background-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the child to its SIGKILL; resolves with the result it printed and the signal that ended it. */
function runChild(prefix: string, truthPath: string, when: "before-confirmation" | "after-flush") {
  const child = spawn(
    process.execPath,
    [
      "--conditions=source",
      "--import",
      "tsx",
      CHILD,
      redis.server.url,
      prefix,
      truthPath,
      String(LEASE_MS),
      when,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise<{ printed: unknown; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (_code, signal) => {
      try {
        resolve({ printed: JSON.parse(stdout.trim()), signal });
      } catch {
        reject(new Error(`the child printed no result: ${stdout} ${stderr}`));
      }
    });
  });
}

const charges = (truthPath: string) => readFileSync(truthPath, "utf8").split("\n").filter(Boolean).length;

describe("confirmation: background, with a process SIGKILLed after its result returned", () => {
  const call = (
    ledger: Ledger,
    truthPath: string,
    reconcile?: () => { status: "applied"; result: unknown },
  ) =>
    ledger.execute({
      tool: "create_invoice",
      key: "order-1",
      args: { amountCents: 4200 },
      submit: () => {
        throw new Error(`resubmitted: ${charges(truthPath)} charge(s) so far`);
      },
      ...(reconcile === undefined ? {} : { reconcile }),
    });

  it("killed before the confirmation was sent: the record stays SUBMITTED, and the next process reconciles instead of charging again", async () => {
    const truthPath = join(dir, "truth");
    const prefix = "bg-kill";
    const { printed, signal } = await runChild(prefix, truthPath, "before-confirmation");
    expect(signal).toBe("SIGKILL");
    expect(printed).toEqual({ invoice: "inv_1" });
    expect(charges(truthPath)).toBe(1);

    const store = new RedisLedgerStore(redis.admin, { prefix });
    const ledger = new Ledger({ store });
    const key = ledger.keyFor({ tool: "create_invoice", key: "order-1", args: {} }).key;
    expect((await store.get(key))?.state).toBe("SUBMITTED");

    // No reconcile hook: once the dead owner's lease ran out, in doubt, never charged again.
    const error = await call(ledger, truthPath).catch((e: unknown) => e);
    expect(isOperationInDoubtError(error)).toBe(true);
    // A reconcile hook that finds the charge confirms it with what the dead process returned.
    const reconciled = await call(ledger, truthPath, () => ({ status: "applied", result: printed }));
    expect(reconciled).toMatchObject({ replayed: false, result: { invoice: "inv_1" } });
    expect((await store.get(key))?.state).toBe("CONFIRMED");
    expect(charges(truthPath)).toBe(1);
  }, 30_000);

  it("killed after ledger.flush(): the next process replays the result", async () => {
    const truthPath = join(dir, "truth");
    const prefix = "bg-flushed";
    const { printed, signal } = await runChild(prefix, truthPath, "after-flush");
    expect(signal).toBe("SIGKILL");
    const ledger = new Ledger({ store: new RedisLedgerStore(redis.admin, { prefix }) });
    const replayed = await call(ledger, truthPath);
    expect(replayed).toMatchObject({ replayed: true, result: printed });
    expect(charges(truthPath)).toBe(1);
  }, 30_000);
});
