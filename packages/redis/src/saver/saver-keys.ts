/*
 * Key layout of RedisSaver. Every key of one thread carries the hash tag `{<prefix>:<thread>}`, so the
 * whole thread lives in one cluster slot: the Lua scripts, pipelines and multi-key UNLINK below all
 * touch one slot and run unchanged on Redis Cluster. A thread is always exactly five keys, however many
 * checkpoints, namespaces and writes it holds:
 *
 *   {p:t}:cp     HASH  <ns>:<checkpoint id>                 -> checkpoint record (see saver-records.ts)
 *   {p:t}:idx    ZSET  <ns>:<checkpoint id> (score 0)       -> lexicographic index: latest, list, before
 *   {p:t}:blobs  HASH  <ns>:<channel>:<version>             -> one channel value per version
 *   {p:t}:writes HASH  <ns>:<checkpoint id>:<task id>:<idx> -> one pending write
 *   {p:t}:widx   ZSET  same members as the writes fields    -> the writes of one checkpoint, by range
 *
 * Every variable part (thread id, namespace, checkpoint id, channel, version, task id) is
 * percent-encoded with encodeURIComponent, so it never contains `:`, `{`, `}`, `;`, spaces or
 * newlines: fields and members split unambiguously, `<ns>:` is an exact prefix for ZRANGEBYLEX, and
 * the hash tag is exactly the thread. Ids LangGraph generates (uuid6) and plain names encode to
 * themselves, so keys stay readable in redis-cli.
 */

import { globEscape } from "../scan-keys.js";

export const KEY_SUFFIXES = ["cp", "idx", "blobs", "writes", "widx"] as const;

/** The five keys of one thread, in the order the Lua scripts take them as KEYS[1..5]. */
export type ThreadKeys = [cp: string, idx: string, blobs: string, writes: string, widx: string];

/** With the `u` flag a surrogate pair is one code point, so this matches lone surrogates only. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
/** What encodeURIComponent leaves as it is: uuids, LangGraph's names and versions are all of it. */
const UNRESERVED = /^[A-Za-z0-9\-_.!~*'()]*$/;

export function encodePart(value: string): string {
  if (UNRESERVED.test(value)) return value;
  if (LONE_SURROGATE.test(value)) {
    // encodeURIComponent would throw a bare "URI malformed"; UTF-8 would turn it into U+FFFD and
    // merge it with other ids.
    throw new Error(
      `RedisSaver: ${JSON.stringify(value)} (a thread id, namespace, checkpoint id, channel, version or ` +
        "task id) holds a lone UTF-16 surrogate, which Redis cannot store apart from U+FFFD. Use well-formed strings.",
    );
  }
  return encodeURIComponent(value);
}

export function decodePart(value: string): string {
  return decodeURIComponent(value);
}

export function threadTag(prefix: string, threadId: string): string {
  return `{${prefix}:${encodePart(threadId)}}`;
}

export function threadKeys(prefix: string, threadId: string): ThreadKeys {
  const tag = threadTag(prefix, threadId);
  return KEY_SUFFIXES.map((suffix) => `${tag}:${suffix}`) as ThreadKeys;
}

/** Member of the checkpoint index and field of the checkpoint hash: `<ns>:<checkpoint id>`. */
export function checkpointMember(ns: string, checkpointId: string): string {
  return `${encodePart(ns)}:${encodePart(checkpointId)}`;
}

export function parseCheckpointMember(member: string): { ns: string; checkpointId: string } {
  const colon = member.indexOf(":");
  return { ns: decodePart(member.slice(0, colon)), checkpointId: decodePart(member.slice(colon + 1)) };
}

/** The checkpoint id of a member as the index holds it (percent-encoded): the index orders by it. */
export function encodedIdOf(member: string): string {
  return member.slice(member.indexOf(":") + 1);
}

/** ZRANGEBYLEX bounds covering every checkpoint of one namespace (`[<ns>:` .. `(<ns>;`). */
export function namespaceBounds(ns: string): { min: string; max: string } {
  const encoded = encodePart(ns);
  return { min: `[${encoded}:`, max: `(${encoded};` };
}

export function blobField(ns: string, channel: string, version: string | number): string {
  return `${encodePart(ns)}:${encodePart(channel)}:${encodePart(String(version))}`;
}

/** The namespace, channel and version a blob field names (a version always comes back a string). */
export function parseBlobField(field: string): { ns: string; channel: string; version: string } {
  const [ns = "", channel = "", version = ""] = field.split(":");
  return { ns: decodePart(ns), channel: decodePart(channel), version: decodePart(version) };
}

export function writeField(member: string, taskId: string, idx: number): string {
  return `${member}:${encodePart(taskId)}:${idx}`;
}

/** SCAN pattern and parser for the index key of every thread under a prefix. */
export function threadIndexPattern(prefix: string): {
  pattern: string;
  parse(key: string): string | undefined;
} {
  const regex = new RegExp(`^\\{${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:([^:{}]*)\\}:idx$`);
  return {
    pattern: `{${globEscape(prefix)}:*}:idx`,
    parse: (key) => {
      const match = regex.exec(key);
      return match?.[1] === undefined ? undefined : decodePart(match[1]);
    },
  };
}
