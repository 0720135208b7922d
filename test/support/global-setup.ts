import { ensureRedisInstalled } from "./redis-install.js";
import { createPidDir, reapLeakedRedisServers } from "./redis-reaper.js";
import { PID_DIR_ENV } from "./redis-server.js";

/**
 * Vitest globalSetup (main process, before any test file): installs redis-server/redis-cli if missing and
 * creates the pid dir through which the workers register their servers. The returned teardown (after all
 * workers ended) SIGKILLs, by PID, any redis-server a worker leaked (e.g. a worker that was itself SIGKILLed).
 */
export default function setup(): () => void {
  ensureRedisInstalled();
  const pidDir = createPidDir();
  process.env[PID_DIR_ENV] = pidDir;
  return () => {
    const killed = reapLeakedRedisServers(pidDir);
    if (killed.length > 0) {
      console.warn(
        `[test teardown] killed ${killed.length} leaked redis-server(s): pids ${killed.join(", ")}`,
      );
    }
  };
}
