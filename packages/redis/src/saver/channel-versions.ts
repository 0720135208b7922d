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
 * - Threads written with those earlier versions (or another saver's `<counter>.<...>` strings) go
 *   on: the counter is read from what precedes the first ".", and a 12-digit version compares
 *   greater than any 20-digit one whose counter is below 10^8 (all zeros where these have digits).
 * - Threads whose versions are numbers (LangGraph's default integer versions, as MemorySaver or
 *   SqliteSaver write them) stay numbers: LangGraph compares a thread's versions with plain `>` and
 *   its null version (0 when they are numbers), and a string there compares as NaN, so no node would
 *   ever run again. The next of a number `n` is `floor(n) + 1` plus a random fraction strictly
 *   between 0 and 1: greater than `n`, and different for two branches forked from one checkpoint
 *   (at least 32 random bits survive below a counter of 2^21; fewer, never none, above). Numbers
 *   round-trip exactly through the record's blob fields (`String` / `Number`).
 */
const COUNTER_DIGITS = 12;
const MAX_COUNTER = 10 ** COUNTER_DIGITS - 1;
const TWO_POW_48 = 2 ** 48;

/** The counter of a version: the whole part of a number, or the digits before the first "." of a string. */
export function versionCounter(version: number | string | undefined): number {
  if (version === undefined) return 0;
  if (typeof version === "number") return Math.floor(version);
  return Number.parseInt(version.split(".")[0] ?? "0", 10) || 0;
}

/**
 * The version after `current`: greater than it as LangGraph compares versions, unique per call. A
 * number for a number (the thread's versions are numbers), a string otherwise.
 */
export function nextChannelVersion(current: number): number;
export function nextChannelVersion(current: string | undefined): string;
export function nextChannelVersion(current: number | string | undefined): number | string;
export function nextChannelVersion(current: number | string | undefined): number | string {
  if (typeof current === "number") {
    if (!Number.isFinite(current)) {
      throw new Error(
        `RedisSaver: channel version ${current} is not a finite number; cannot mint the next one.`,
      );
    }
    const counter = checkCounter(Math.floor(current) + 1);
    for (;;) {
      // Near the top of the range the sum can round to either whole number: draw again.
      const next = counter + randomFraction();
      if (next > counter && next < counter + 1) return next;
    }
  }
  const counter = checkCounter(versionCounter(current) + 1);
  return `${String(counter).padStart(COUNTER_DIGITS, "0")}.${randomSuffix()}`;
}

function checkCounter(counter: number): number {
  if (counter > MAX_COUNTER) {
    throw new Error(
      `RedisSaver: channel version counter ${counter} exceeds ${MAX_COUNTER}; versions would stop sorting in order.`,
    );
  }
  return counter;
}

/** 6 random bytes from a pooled buffer (one `randomBytes` per 256 draws); returns their offset. */
let pool = Buffer.alloc(0);
let offset = 0;
function draw(): number {
  if (offset + 6 > pool.length) {
    pool = randomBytes(6 * 256);
    offset = 0;
  }
  offset += 6;
  return offset - 6;
}

/** 48 random bits as 8 base64url characters. */
function randomSuffix(): string {
  const at = draw();
  return pool.toString("base64url", at, at + 6);
}

/** 48 random bits as a fraction in [0, 1) (0 is drawn again by the caller). */
function randomFraction(): number {
  const at = draw(); // before reading `pool`: a draw may replace it
  return pool.readUIntBE(at, 6) / TWO_POW_48;
}
