import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseInfo, RespError, respCommand, respCommands } from "./resp.js";
import { isValkeyInfo, valkeyServerPath } from "./valkey-install.js";

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 10_000;
const READY_POLL_MS = 50;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_CHARS = 16_000;

/** A free TCP port on 127.0.0.1 (bind :0, read the port, close). Racy by nature: bind it soon. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: HOST, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the port of a 127.0.0.1:0 listener"));
        return;
      }
      server.close((error) => (error ? reject(error) : resolve(address.port)));
    });
  });
}

export interface RedisServerOptions {
  /** Client port; default a free port (retried if it is taken between the probe and redis' bind). */
  port?: number;
  /** AOF persistence (`--appendonly yes`). Default false. */
  appendonly?: boolean;
  /** Default "everysec" (Redis' default). Use "always" to survive SIGKILL without losing acknowledged writes. */
  appendfsync?: "always" | "everysec" | "no";
  /** Data dir; default a fresh mkdtemp under os.tmpdir() (removed when the test process exits). */
  dir?: string;
  /** `--cluster-enabled yes` (config file nodes-<port>.conf in dir, node timeout 5000 ms, bus port a free port). */
  cluster?: boolean;
  /** Appended to the command line, e.g. ["--maxmemory", "10mb"]. */
  extraArgs?: string[];
  /** Which server to run: Redis (`redis-server` on PATH, the default) or Valkey (see valkey-install.ts). */
  flavor?: ServerFlavor;
}

export type ServerFlavor = "redis" | "valkey";

export interface RedisServer {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** "redis://127.0.0.1:<port>" */
  readonly url: string;
  readonly dir: string;
  /** PID of the current redis-server process (changes after restart()). */
  readonly pid: number;
  /** The current redis-server child process (changes after restart()). */
  readonly process: ChildProcess;
  /** Cluster bus port when started with `cluster: true`. */
  readonly clusterBusPort: number | undefined;
  /** SIGTERM by PID (plus SIGCONT in case it is stopped), wait for exit, SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** Sends `signal` to the PID (e.g. SIGKILL, SIGSTOP, SIGCONT); a no-op if it already exited. */
  kill(signal: NodeJS.Signals): void;
  /** Starts redis-server again on the same port and dir (stopping it first if it still runs) and waits until ready. */
  restart(): Promise<void>;
  /** Resolves once PING answers PONG and `INFO persistence` shows loading:0 (polls every 50 ms, 10 s max). */
  waitReady(): Promise<void>;
  /** Last ~16 KB of the server's stdout/stderr, for diagnostics. */
  output(): string;
}

// ---------------------------------------------------------------------------------------------------------
// Leak protection. Every spawned redis-server is tracked (kept on globalThis so that vitest's per-file module
// re-imports share it) and SIGKILLed by PID, synchronously, when this process exits or receives SIGTERM (that is
// how vitest ends its fork workers, and a SIGTERM skips "exit" handlers). When the root globalSetup is active it
// also gets a pidfile in $DURABLE_TOOLS_REDIS_PID_DIR, so the main process can reap servers of a worker that was
// SIGKILLed (see reapLeakedRedisServers in redis-reaper.ts).

export const PID_DIR_ENV = "DURABLE_TOOLS_REDIS_PID_DIR";

interface Registry {
  children: Set<ChildProcess>;
  tempDirs: Set<string>;
}

const REGISTRY_KEY = Symbol.for("durable-tools.test.redis-server.registry");

function cleanupSync(reg: Registry): void {
  for (const child of reg.children) {
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      removePidFile(child.pid);
    }
  }
  reg.children.clear();
  for (const dir of reg.tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort
    }
  }
  reg.tempDirs.clear();
}

function registry(): Registry {
  const holder = globalThis as unknown as Record<symbol, Registry | undefined>;
  let reg = holder[REGISTRY_KEY];
  if (!reg) {
    const created: Registry = { children: new Set(), tempDirs: new Set() };
    reg = created;
    holder[REGISTRY_KEY] = created;
    process.on("exit", () => cleanupSync(created));
    const onSigterm = (): void => {
      cleanupSync(created);
      process.off("SIGTERM", onSigterm);
      // Keep the default SIGTERM behaviour (terminate) unless someone else handles it.
      if (process.listenerCount("SIGTERM") === 0) process.kill(process.pid, "SIGTERM");
    };
    process.on("SIGTERM", onSigterm);
  }
  return reg;
}

function pidFilePath(pid: number): string | undefined {
  const pidDir = process.env[PID_DIR_ENV];
  return pidDir ? join(pidDir, `${pid}.json`) : undefined;
}

function writePidFile(pid: number, port: number, tempDir: string | undefined): void {
  const file = pidFilePath(pid);
  if (!file) return;
  try {
    writeFileSync(file, JSON.stringify({ pid, port, tempDir }));
  } catch {
    // the pid dir is only a second line of defence
  }
}

function removePidFile(pid: number): void {
  const file = pidFilePath(pid);
  if (!file) return;
  try {
    rmSync(file, { force: true });
  } catch {
    // best effort
  }
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (!isAlive(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(!isAlive(child));
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

class OutputTail {
  private text = "";
  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > OUTPUT_TAIL_CHARS * 2) this.text = this.text.slice(-OUTPUT_TAIL_CHARS);
  }
  toString(): string {
    return this.text.slice(-OUTPUT_TAIL_CHARS);
  }
}

function isBindFailure(output: string): boolean {
  return /Address already in use|Could not create server TCP listening socket|Failed listening on port/i.test(
    output,
  );
}

class RedisServerHandle implements RedisServer {
  readonly host = HOST;
  readonly url: string;
  private child: ChildProcess | undefined;
  private readonly tail = new OutputTail();

  constructor(
    readonly port: number,
    readonly dir: string,
    readonly clusterBusPort: number | undefined,
    private readonly args: readonly string[],
    private readonly ownedTempDir: string | undefined,
    private readonly executable: string,
  ) {
    this.url = `redis://${HOST}:${port}`;
  }

  get process(): ChildProcess {
    if (!this.child) throw new Error("redis-server was not spawned");
    return this.child;
  }

  get pid(): number {
    const pid = this.process.pid;
    if (pid === undefined) throw new Error("redis-server has no pid (spawn failed)");
    return pid;
  }

  output(): string {
    return this.tail.toString();
  }

  spawn(): void {
    if (this.child) this.tail.append(`\n--- restart on port ${this.port} ---\n`);
    const child = spawn(this.executable, this.args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    const reg = registry();
    reg.children.add(child);
    if (child.pid !== undefined) writePidFile(child.pid, this.port, this.ownedTempDir);
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => this.tail.append(chunk));
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => this.tail.append(chunk));
    child.on("error", (error) => this.tail.append(`\n[spawn error] ${error.message}\n`));
    child.on("exit", (code, signal) => {
      reg.children.delete(child);
      if (child.pid !== undefined) removePidFile(child.pid);
      this.tail.append(`\n[redis-server pid ${child.pid} exited: code=${code} signal=${signal}]\n`);
    });
  }

  async waitReady(): Promise<void> {
    const child = this.process;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastProblem = "no probe yet";
    for (;;) {
      if (!isAlive(child)) {
        throw new Error(
          `redis-server on port ${this.port} exited before becoming ready ` +
            `(code=${child.exitCode} signal=${child.signalCode}). Output tail:\n${this.output()}`,
        );
      }
      try {
        const [pong, server, persistence] = await respCommands(
          this.port,
          [["PING"], ["INFO", "server"], ["INFO", "persistence"]],
          { timeoutMs: 1000 },
        );
        const serverInfo = typeof server === "string" ? parseInfo(server) : {};
        const persistenceInfo = typeof persistence === "string" ? parseInfo(persistence) : {};
        if (pong instanceof RespError) lastProblem = `PING: ${pong.message}`;
        else if (pong !== "PONG") lastProblem = `PING answered ${JSON.stringify(pong)}`;
        else if (serverInfo.process_id !== String(child.pid)) {
          lastProblem = `port ${this.port} is answered by another process (pid ${serverInfo.process_id}), not ours (${child.pid})`;
        } else if (persistenceInfo.loading !== "0")
          lastProblem = `still loading (loading:${persistenceInfo.loading})`;
        else return;
      } catch (error) {
        lastProblem = (error as Error).message;
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `redis-server on port ${this.port} (pid ${child.pid}) not ready after ${READY_TIMEOUT_MS} ms: ` +
            `${lastProblem}. Output tail:\n${this.output()}`,
        );
      }
      await sleep(READY_POLL_MS);
    }
  }

  kill(signal: NodeJS.Signals): void {
    const child = this.process;
    if (!isAlive(child) || child.pid === undefined) return;
    signalPid(child.pid, signal);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.pid === undefined || !isAlive(child)) return;
    signalPid(child.pid, "SIGTERM");
    signalPid(child.pid, "SIGCONT"); // a SIGSTOPped server would never handle the SIGTERM
    if (await waitForExit(child, STOP_GRACE_MS)) return;
    signalPid(child.pid, "SIGKILL");
    if (!(await waitForExit(child, STOP_GRACE_MS))) {
      throw new Error(`redis-server pid ${child.pid} did not exit after SIGKILL`);
    }
  }

  async restart(): Promise<void> {
    const previous = this.child;
    if (previous && isAlive(previous)) {
      // After kill("SIGKILL") the exit may just not have been observed yet: wait for it before stopping.
      if (!(await waitForExit(previous, 1000))) await this.stop();
    }
    this.spawn();
    await this.waitReady();
  }
}

/** A "valkey-server" on PATH could be Redis under another name: the Valkey tests must run on Valkey. */
async function refuseUnlessValkey(server: RedisServer): Promise<void> {
  const info = await respCommand(server.port, ["INFO", "server"]);
  if (typeof info !== "string" || !isValkeyInfo(info)) {
    throw new Error(`the server started as valkey-server is not Valkey: ${JSON.stringify(info)}`);
  }
}

/** Starts a real redis-server on 127.0.0.1 (no config file) and waits until it is ready. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const attempts = options.port === undefined ? 5 : 1;
  const executable = options.flavor === "valkey" ? await valkeyServerPath() : "redis-server";
  let dir = options.dir;
  let ownedTempDir: string | undefined;
  if (dir === undefined) {
    dir = mkdtempSync(join(tmpdir(), "durable-tools-redis-"));
    ownedTempDir = dir;
    registry().tempDirs.add(dir);
  }
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = options.port ?? (await freePort());
    let busPort: number | undefined;
    while (options.cluster && (busPort === undefined || busPort === port)) busPort = await freePort();
    const args = [
      "--port",
      String(port),
      "--bind",
      HOST,
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      options.appendonly ? "yes" : "no",
      "--appendfsync",
      options.appendfsync ?? "everysec",
      "--protected-mode",
      "no",
      "--daemonize",
      "no",
      ...(busPort !== undefined
        ? [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            `nodes-${port}.conf`,
            "--cluster-node-timeout",
            "5000",
            "--cluster-port",
            String(busPort),
          ]
        : []),
      ...(options.extraArgs ?? []),
    ];
    const server = new RedisServerHandle(port, dir, busPort, args, ownedTempDir, executable);
    server.spawn();
    try {
      await server.waitReady();
      if (options.flavor === "valkey") await refuseUnlessValkey(server);
      return server;
    } catch (error) {
      lastError = error as Error;
      await server.stop().catch(() => {});
      if (!isBindFailure(server.output())) break;
    }
  }
  throw lastError ?? new Error("redis-server did not start");
}
