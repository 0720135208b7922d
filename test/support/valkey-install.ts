import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { arch } from "node:os";
import { join } from "node:path";
import { findOnPath } from "./redis-install.js";

/*
 * Valkey for the tests that run on it. Debian 12 ships no Valkey; bookworm-backports has 8.0.1. Rather
 * than add an apt source to the machine, the tests fetch that one package from Debian's archive, check
 * it against the SHA-256 its Packages index gives, and unpack it under node_modules/.cache (dpkg-deb -x:
 * nothing is installed). It needs the libraries redis-server already pulled in (jemalloc, lzf, ssl).
 * A `valkey-server` on PATH is used instead when there is one.
 */

/** Set by the global setup for the test workers: the valkey-server executable to spawn. */
export const VALKEY_SERVER_ENV = "DURABLE_TOOLS_VALKEY_SERVER";

const VERSION = "8.0.1+dfsg1-1~bpo12+1";
/** valkey-tools holds the server binary (valkey-check-rdb; it runs as the server when named valkey-server). */
const PACKAGE_URL = `https://deb.debian.org/debian/pool/main/v/valkey/valkey-tools_${encodeURIComponent(VERSION)}_amd64.deb`;
const PACKAGE_SHA256 = "d2c2ea67642fa9571a07138b80ae52ebe566311c952aef25a39c1d5050697853";
const CACHE_DIR = join(
  import.meta.dirname,
  "..",
  "..",
  "node_modules",
  ".cache",
  "durable-tools",
  `valkey-${VERSION}`,
);
const INSTALL_HINT =
  "put valkey-server (Valkey 7.2+) on PATH, e.g. on Debian 12: apt-get install -t bookworm-backports valkey-server";

/** True when INFO's server section is a Valkey server's (the tests check they did not get Redis). */
export function isValkeyInfo(serverInfo: string): boolean {
  return /^(server_name:valkey|valkey_version:)/m.test(serverInfo);
}

/** The valkey-server the global setup found or unpacked (throws in a worker started without it). */
export function valkeyServerPath(): string {
  const path = process.env[VALKEY_SERVER_ENV];
  if (path === undefined || path === "") {
    throw new Error(`${VALKEY_SERVER_ENV} is not set: the tests' global setup (ensureValkey) did not run`);
  }
  return path;
}

/** A runnable valkey-server: on PATH, else unpacked in the cache (fetching the package once). */
export async function ensureValkey(): Promise<string> {
  const onPath = findOnPath("valkey-server");
  if (onPath !== undefined) return onPath;
  const server = join(CACHE_DIR, "usr", "bin", "valkey-server");
  if (!existsSync(server)) await unpackPackage(server);
  const version = spawnSync(server, ["--version"], { encoding: "utf8" });
  if (version.status !== 0) {
    throw new Error(
      `${server} does not run (${(version.stderr || version.error?.message || "").trim()}); ${INSTALL_HINT}`,
    );
  }
  return server;
}

async function unpackPackage(server: string): Promise<void> {
  if (arch() !== "x64" || findOnPath("dpkg-deb") === undefined) {
    throw new Error(
      `The Valkey tests need valkey-server and this machine cannot unpack Debian's amd64 one: ${INSTALL_HINT}`,
    );
  }
  console.log(
    `[test setup] valkey-server not found on PATH: fetching Valkey ${VERSION} from Debian (${PACKAGE_URL})`,
  );
  const response = await fetch(PACKAGE_URL);
  if (!response.ok) throw new Error(`GET ${PACKAGE_URL}: HTTP ${response.status}; ${INSTALL_HINT}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== PACKAGE_SHA256) {
    throw new Error(`${PACKAGE_URL} has SHA-256 ${sha256}, expected ${PACKAGE_SHA256}; not unpacked`);
  }
  rmSync(CACHE_DIR, { recursive: true, force: true });
  mkdirSync(CACHE_DIR, { recursive: true });
  const deb = join(CACHE_DIR, "valkey-tools.deb");
  writeFileSync(deb, bytes);
  const unpacked = spawnSync("dpkg-deb", ["-x", deb, CACHE_DIR], { encoding: "utf8" });
  rmSync(deb);
  if (unpacked.status !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${unpacked.stderr.trim()}`);
  symlinkSync("valkey-check-rdb", server);
}
