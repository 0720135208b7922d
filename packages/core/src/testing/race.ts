import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Ledger } from "../ledger.js";
import type { LedgerStore } from "../store.js";

export interface CrossProcessRaceOptions {
  /** Absolute path of a module whose default export is `(storeArg) => LedgerStore | Promise<LedgerStore>`. */
  storeModule: string;
  /** What the factory opens: a database path, a Redis URL... */
  storeArg: string;
  /** Opens a store in this process to check the records afterwards. */
  openStore: () => LedgerStore | Promise<LedgerStore>;
  keys?: number;
  processes?: number;
  /** Calls in flight per process. */
  concurrency?: number;
  /** The racers' tool name: races on one store under different tools use different keys. Default `race`. */
  tool?: string;
  /** The racers' ledger option (`awaited` by default); each racer calls `ledger.flush()` before it reports. */
  confirmation?: "awaited" | "background";
}

interface WorkerReport {
  worker: string;
  created: number;
  replayed: number;
  errors: string[];
  ms: number;
}

interface Racer {
  ready: Promise<void>;
  start: () => void;
  report: Promise<WorkerReport>;
}

const isSource = import.meta.url.endsWith(".ts");
const workerPath = fileURLToPath(new URL(`./race-worker.${isSource ? "ts" : "mjs"}`, import.meta.url));

/** Starts one racer as a real OS process (from source through tsx, or the built worker). */
function spawnRacer(
  options: Required<Omit<CrossProcessRaceOptions, "openStore">>,
  truthPath: string,
  name: string,
): Racer {
  const flags = isSource ? ["--conditions=source", "--import", "tsx"] : [];
  const args = [
    options.storeModule,
    options.storeArg,
    truthPath,
    String(options.keys),
    name,
    String(options.concurrency),
    options.tool,
    options.confirmation,
  ];
  const child = spawn(process.execPath, [...flags, workerPath, ...args], { stdio: ["pipe", "pipe", "pipe"] });
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
  // A racer that dies before it is ready must not leave the test waiting for it, and writing "go" to
  // one that has died (EPIPE) must not crash the runner: its exit code and stderr say what happened.
  report.catch(markReady);
  child.stdin.on("error", () => undefined);
  return { ready, report, start: () => child.stdin.end("go\n") };
}

/**
 * Several OS processes race over the same keys through `Ledger.execute` on one shared store; every
 * side effect appends to a ground-truth file outside the ledger. Passes when every key's side effect
 * ran exactly once, every process got an answer for every key, and every record is CONFIRMED.
 */
export function describeCrossProcessRace(name: string, options: () => CrossProcessRaceOptions): void {
  describe(`LedgerStore across processes: ${name}`, () => {
    it("runs every key's side effect exactly once while processes race over the same keys", async () => {
      const resolved = options();
      const settings = {
        keys: 1000,
        processes: 3,
        concurrency: 8,
        tool: "race",
        confirmation: "awaited" as const,
        ...resolved,
      };
      const dir = mkdtempSync(join(tmpdir(), "dt-race-"));
      try {
        const truthPath = join(dir, "ground-truth.txt");
        const racers = Array.from({ length: settings.processes }, (_, i) =>
          spawnRacer(settings, truthPath, `racer-${i}`),
        );
        await Promise.all(racers.map((racer) => racer.ready));
        const started = Date.now();
        for (const racer of racers) racer.start();
        const reports = await Promise.all(racers.map((racer) => racer.report));
        const elapsed = Date.now() - started;

        const lines = readFileSync(truthPath, "utf8").split("\n").filter(Boolean);
        const counts = new Map<string, number>();
        for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
        expect(counts.size).toBe(settings.keys);
        expect([...counts.entries()].filter(([, n]) => n !== 1)).toEqual([]);

        for (const report of reports) {
          expect(report.errors).toEqual([]);
          expect(report.created + report.replayed).toBe(settings.keys);
        }
        expect(reports.reduce((sum, r) => sum + r.created, 0)).toBe(settings.keys);

        const store = await settings.openStore();
        try {
          const ledger = new Ledger({ store });
          for (let i = 0; i < settings.keys; i++) {
            const { key } = ledger.keyFor({ tool: settings.tool, key: `race-${i}`, args: { i } });
            expect((await store.get(key))?.state).toBe("CONFIRMED");
          }
        } finally {
          await store.close?.();
        }
        console.info(
          `${name}: ${settings.processes} processes x ${settings.keys} keys in ${elapsed} ms (created per process: ${reports
            .map((r) => r.created)
            .join("/")})`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  });
}
