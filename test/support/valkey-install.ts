import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { arch } from "node:os";
import { join } from "node:path";
import { findOnPath } from "./redis-install.js";

/*
 * Valkey for the tests that run on it. Debian 12 ships no Valkey; bookworm-backports has 8.0.1. Rather
 * than add an apt source to the machine, a test that starts Valkey fetches that one package from Debian's archive, checks
 * it against the SHA-256 its Packages index gives, and unpack it under node_modules/.cache (dpkg-deb -x:
 * nothing is installed). It needs the libraries redis-server already pulled in (jemalloc, lzf, ssl).
 * A `valkey-server` on PATH is used instead when there is one.
 */

/** A valkey-server to use instead of looking for one (e.g. a build of your own). */
export const VALKEY_SERVER_ENV = "DURABLE_TOOLS_VALKEY_SERVER";

const VERSION = "8.0.1+dfsg1-1~bpo12+1";
/** valkey-tools holds the server binary (valkey-check-rdb; it runs as the server when named valkey-server). */
const PACKAGE_URL = `https://deb.debian.org/debian/pool/main/v/valkey/valkey-tools_${encodeURIComponent(VERSION)}_amd64.deb`;
const PACKAGE_SHA256 = "d2c2ea67642fa9571a07138b80ae52ebe566311c952aef25a39c1d5050697853";
const CACHE_PARENT = join(import.meta.dirname, "..", "..", "node_modules", ".cache", "durable-tools");
const CACHE_DIR = join(CACHE_PARENT, `valkey-${VERSION}`);
const SERVER_IN_PACKAGE = join("usr", "bin", "valkey-server");
const INSTALL_HINT =
  "put valkey-server (Valkey 7.2+) on PATH, e.g. on Debian 12: apt-get install -t bookworm-backports valkey-server";

/** True when INFO's server section is a Valkey server's (the tests check they did not get Redis). */
export function isValkeyInfo(serverInfo: string): boolean {
  return /^(server_name:valkey|valkey_version:)/m.test(serverInfo);
}

let found: Promise<string> | undefined;

/**
 * A runnable valkey-server, found when a test first starts one (a run without Valkey tests fetches
 * nothing): $DURABLE_TOOLS_VALKEY_SERVER, else on PATH, else unpacked in the cache (fetched once).
 */
export function valkeyServerPath(): Promise<string> {
  found ??= findValkey();
  return found;
}

async function findValkey(): Promise<string> {
  const chosen = process.env[VALKEY_SERVER_ENV] || findOnPath("valkey-server");
  if (chosen) return chosen;
  const server = join(CACHE_DIR, SERVER_IN_PACKAGE);
  if (!existsSync(server)) await unpackPackage();
  const version = spawnSync(server, ["--version"], { encoding: "utf8" });
  if (version.status !== 0) {
    throw new Error(
      `${server} does not run (${(version.stderr || version.error?.message || "").trim()}); ${INSTALL_HINT}`,
    );
  }
  return server;
}

/**
 * Fetches and unpacks the package into a fresh directory, then renames it into place: test workers
 * that race here each unpack their own, and the first rename wins (the others find it there).
 */
async function unpackPackage(): Promise<void> {
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
  mkdirSync(CACHE_PARENT, { recursive: true });
  const staging = mkdtempSync(join(CACHE_PARENT, "valkey-unpacking-"));
  try {
    const deb = join(staging, "valkey-tools.deb");
    writeFileSync(deb, bytes);
    const unpacked = spawnSync("dpkg-deb", ["-x", deb, staging], { encoding: "utf8" });
    if (unpacked.status !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${unpacked.stderr.trim()}`);
    rmSync(deb);
    symlinkSync("valkey-check-rdb", join(staging, SERVER_IN_PACKAGE));
    try {
      renameSync(staging, CACHE_DIR);
    } catch (error) {
      if (!existsSync(join(CACHE_DIR, SERVER_IN_PACKAGE))) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
