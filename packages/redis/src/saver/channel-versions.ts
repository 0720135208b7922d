import { randomBytes } from "node:crypto";

/*
 * Channel versions RedisSaver mints: `<12-digit counter>.<8 base64url characters>` (21 characters).
 *
 * - LangGraph compares string versions with `<` and `>`, so the counter is zero-padded: versions of
 *   one thread order by counter. 10^12 - 1 versions is more than a thread can reach (a step takes
 *   well over a microsecond); past it `nextChannelVersion` throws instead of breaking the order.
 * - The random part (48 bits) makes the versions two branches forked from one checkpoint mint for
 *   one channel different, so they name two blobs instead of one overwritten by the other.
 * - A checkpoint record repeats versions (every channel's in its blob fields, the ones each node has
 *   seen in versions_seen), so their length is most of a small checkpoint: the 57-character
 *   `<20-digit counter>.<uuid>` of earlier releases made a 10-node run store 47.7 KB instead of 33.5 KB.
 * - Threads written with those earlier versions (or numbers, or another saver's `<counter>.<...>`)
 *   go on: the counter is read from what precedes the first ".", and a 12-digit version compares
 *   greater than any 20-digit one whose counter is below 10^8 (all zeros where these have digits).
 */
const COUNTER_DIGITS = 12;
const MAX_COUNTER = 10 ** COUNTER_DIGITS - 1;

/** The counter of a version: the number itself, or the digits before the first "." of a string. */
export function versionCounter(version: number | string | undefined): number {
  if (version === undefined) return 0;
  if (typeof version === "number") return version;
  return Number.parseInt(version.split(".")[0] ?? "0", 10) || 0;
}

/** The version after `current`: greater than it as LangGraph compares versions, unique per call. */
export function nextChannelVersion(current: number | string | undefined): string {
  const counter = versionCounter(current) + 1;
  if (counter > MAX_COUNTER) {
    throw new Error(
      `RedisSaver: channel version counter ${counter} exceeds ${MAX_COUNTER}; versions would stop sorting in order.`,
    );
  }
  return `${String(counter).padStart(COUNTER_DIGITS, "0")}.${randomSuffix()}`;
}

/** 6 random bytes as 8 base64url characters, cut from a pooled buffer (one `randomBytes` per 256). */
let pool = Buffer.alloc(0);
let offset = 0;
function randomSuffix(): string {
  if (offset + 6 > pool.length) {
    pool = randomBytes(6 * 256);
    offset = 0;
  }
  offset += 6;
  return pool.toString("base64url", offset - 6, offset);
}
