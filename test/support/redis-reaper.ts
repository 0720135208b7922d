import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Creates the directory where test workers record the redis-servers they spawn (one `<pid>.json` each). */
export function createPidDir(): string {
  return mkdtempSync(join(tmpdir(), "durable-tools-redis-pids-"));
}

/** True only if `pid` is still a redis-server (or valkey-server) on `port` (guards against PID reuse). Linux /proc. */
function isOurRedisServer(pid: number, port: number): boolean {
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return (comm === "redis-server" || comm === "valkey-server") && cmdline.includes(`:${port}`);
  } catch {
    return false;
  }
}

/**
 * SIGKILLs (by PID) every redis-server recorded in `pidDir` that is still running — servers whose test worker
 * died without cleaning up — removes their temp data dirs, then removes `pidDir`. Returns the PIDs it killed.
 */
export function reapLeakedRedisServers(pidDir: string): number[] {
  const killed: number[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(pidDir).filter((name) => name.endsWith(".json"));
  } catch {
    return killed;
  }
  for (const file of files) {
    try {
      const entry = JSON.parse(readFileSync(join(pidDir, file), "utf8")) as {
        pid: number;
        port: number;
        tempDir?: string;
      };
      if (isOurRedisServer(entry.pid, entry.port)) {
        process.kill(entry.pid, "SIGKILL");
        killed.push(entry.pid);
      }
      if (entry.tempDir) rmSync(entry.tempDir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort
    }
  }
  rmSync(pidDir, { recursive: true, force: true });
  return killed;
}
