import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ledger } from "@durable-tools/core";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteLedgerStore } from "./index.js";

const KEYS = 1000;
const PROCESSES = 3;
const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const worker = fileURLToPath(new URL("./testing/race-worker.ts", import.meta.url));

interface WorkerReport {
  worker: string;
  created: number;
  replayed: number;
  errors: string[];
  ms: number;
}

interface Racer {
  /** Resolves once the racer has opened the store and waits for the start signal. */
  ready: Promise<void>;
  start: () => void;
  report: Promise<WorkerReport>;
}

/** Starts one racer as a real OS process (node + tsx, sibling packages from source). */
function spawnRacer(dbPath: string, truthPath: string, name: string): Racer {
  const child = spawn(
    process.execPath,
    ["--conditions=source", "--import", "tsx", worker, dbPath, truthPath, String(KEYS), name],
    { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
    if (stdout.startsWith("ready\n")) markReady();
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const report = new Promise<WorkerReport>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${name} exited with ${code}: ${stderr}`));
      const last = stdout.trim().split("\n").at(-1) ?? "";
      try {
        resolve(JSON.parse(last) as WorkerReport);
      } catch (error) {
        reject(new Error(`${name} printed no report (${String(error)}): ${stdout} ${stderr}`));
      }
    });
  });
  // A racer that dies before it is ready must not leave the test waiting for it.
  report.catch(markReady);
  return { ready, report, start: () => child.stdin.end("go\n") };
}

describe("SqliteLedgerStore across processes", () => {
  const dir = mkdtempSync(join(tmpdir(), "dt-sqlite-race-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`runs each of ${KEYS} keys exactly once when ${PROCESSES} processes race over one file`, async () => {
    const dbPath = join(dir, "ledger.sqlite");
    const truthPath = join(dir, "ground-truth.txt");
    // Create the schema once up front, as a deployment would; the racers then only open the file.
    await SqliteLedgerStore.fromPath(dbPath).close();

    const racers = Array.from({ length: PROCESSES }, (_, i) => spawnRacer(dbPath, truthPath, `racer-${i}`));
    await Promise.all(racers.map((racer) => racer.ready));
    const started = Date.now();
    for (const racer of racers) racer.start();
    const reports = await Promise.all(racers.map((racer) => racer.report));
    const elapsed = Date.now() - started;

    // Ground truth: every key's side effect ran exactly once, whichever process ran it.
    const lines = readFileSync(truthPath, "utf8").split("\n").filter(Boolean);
    const counts = new Map<string, number>();
    for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
    expect(counts.size).toBe(KEYS);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(lines).toHaveLength(KEYS);

    // Each process answered every key: created by it, or replayed from another's record.
    for (const report of reports) {
      expect(report.errors).toEqual([]);
      expect(report.created + report.replayed).toBe(KEYS);
    }
    expect(reports.reduce((sum, r) => sum + r.created, 0)).toBe(KEYS);

    const store = SqliteLedgerStore.fromPath(dbPath);
    try {
      const ledger = new Ledger({ store });
      for (let i = 0; i < KEYS; i++) {
        const { key } = ledger.keyFor({ tool: "race", key: `race-${i}`, args: { i } });
        expect((await store.get(key))?.state).toBe("CONFIRMED");
      }
    } finally {
      await store.close();
    }
    console.info(
      `cross-process race: ${PROCESSES} processes x ${KEYS} keys in ${elapsed} ms (created per process: ${reports
        .map((r) => r.created)
        .join("/")})`,
    );
  }, 60_000);
});
