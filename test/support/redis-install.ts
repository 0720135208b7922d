import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

const INSTALL_HINT = "sudo apt-get install -y redis-server redis-tools";

/** Absolute path of `command` if it is an executable file on PATH, else undefined. */
export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here, keep looking
    }
  }
  return undefined;
}

function redisOnPath(): boolean {
  return findOnPath("redis-server") !== undefined && findOnPath("redis-cli") !== undefined;
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (result.error) throw new Error(`${command} ${args.join(" ")} failed: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited with ${result.status ?? result.signal}; install Redis manually: ${INSTALL_HINT}`,
    );
  }
}

/**
 * Makes sure `redis-server` and `redis-cli` are on PATH. As root on a Debian-like system it installs
 * them with apt-get (and stops the package's own service on 6379, which the tests never use);
 * otherwise it throws an Error explaining how to install them.
 */
export function ensureRedisInstalled(): void {
  if (redisOnPath()) return;

  if (process.getuid?.() !== 0) {
    throw new Error(
      "redis-server and redis-cli are required by the tests but were not found on PATH. " +
        `Install them with: ${INSTALL_HINT}`,
    );
  }
  if (findOnPath("apt-get") === undefined) {
    throw new Error(
      "redis-server and redis-cli are required by the tests but were not found on PATH, and apt-get is " +
        `not available. On Debian/Ubuntu install them with: ${INSTALL_HINT}`,
    );
  }

  console.log(
    "[test setup] redis-server/redis-cli not found on PATH: installing them with `apt-get install -y redis-server redis-tools`",
  );
  run("apt-get", ["update"]);
  run("apt-get", ["install", "-y", "redis-server", "redis-tools"]);

  // The Debian package may start its own service on 6379. The tests never use it, but don't leave it running.
  if (findOnPath("service") !== undefined) {
    spawnSync("service", ["redis-server", "stop"], { stdio: "inherit" });
  }
  if (findOnPath("systemctl") !== undefined) {
    spawnSync("systemctl", ["disable", "--now", "redis-server"], { stdio: "inherit" });
  }

  if (!redisOnPath()) {
    throw new Error(
      `apt-get finished but redis-server/redis-cli are still not on PATH; try: ${INSTALL_HINT}`,
    );
  }
}
