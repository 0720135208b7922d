/*
 * Binary framing of the values RedisSaver stores. Values go to Redis as raw bytes (ioredis `*Buffer`
 * commands; no base64): a few header lines of plain text, each ended by `\n`, then the serializer's
 * bytes untouched. Header lines never contain a raw newline (JSON.stringify escapes it; encoded key
 * parts have none), so the first `\n`s split the frame and the body may hold any byte.
 *
 *   checkpoint record: line 1 JSON {v, parent, ct, cn, mt, cv?, nv?}  (parent id or null, checkpoint
 *                      type and byte length, metadata type); line 2 the blob fields of every channel
 *                      the checkpoint references, space-separated (read by the get script in Lua);
 *                      body = checkpoint bytes (without channel_values), then metadata bytes.
 *                      Format 2: with `cv: 1` the checkpoint bytes leave out channel_versions too,
 *                      which line 2 already holds (`<ns>:<channel>:<version>`, in the same order);
 *                      `nv` lists the places of the versions that are numbers, not strings. Format 1
 *                      (no cv) is still read.
 *   blob:              line 1 the serializer type (`empty` when the channel has no value); body bytes.
 *   write:             line 1 JSON {task, idx, channel, type, path}; body bytes.
 */

import type { ChannelVersions } from "@langchain/langgraph-checkpoint";
import { blobField } from "./saver-keys.js";

const NEWLINE = 0x0a;
const FORMAT_VERSION = 2;
const READABLE_FORMATS = new Set([1, 2]);

export interface CheckpointHeader {
  parent: string | null;
  checkpointType: string;
  metadataType: string;
  /**
   * Set when the checkpoint bytes leave out channel_versions, to be rebuilt from the blob fields:
   * the places (in blobFields) of the versions that are numbers.
   */
  versionsInFields?: { numeric: number[] } | undefined;
}

export interface DecodedCheckpointRecord extends CheckpointHeader {
  blobFields: string[];
  checkpoint: Uint8Array;
  metadata: Uint8Array;
}

export interface WriteHeader {
  taskId: string;
  idx: number;
  channel: string;
  type: string;
  taskPath: string;
}

export interface DecodedWrite extends WriteHeader {
  value: Uint8Array;
}

export const EMPTY_BLOB_TYPE = "empty";

function frame(lines: string[], body: Uint8Array[]): Buffer {
  return Buffer.concat([Buffer.from(lines.map((line) => `${line}\n`).join(""), "utf8"), ...body]);
}

function unframe(buffer: Buffer, lineCount: number): { lines: string[]; body: Buffer } {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < lineCount; i++) {
    const end = buffer.indexOf(NEWLINE, start);
    if (end < 0) throw new Error("RedisSaver: malformed stored value (missing header line)");
    lines.push(buffer.toString("utf8", start, end));
    start = end + 1;
  }
  return { lines, body: buffer.subarray(start) };
}

/** A copy as a plain Uint8Array (serializers may hand `bytes` values straight back to the caller). */
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function encodeCheckpointRecord(
  header: CheckpointHeader,
  blobFields: readonly string[],
  checkpoint: Uint8Array,
  metadata: Uint8Array,
): Buffer {
  const inFields = header.versionsInFields;
  const head = JSON.stringify({
    v: FORMAT_VERSION,
    parent: header.parent,
    ct: header.checkpointType,
    cn: checkpoint.byteLength,
    mt: header.metadataType,
    ...(inFields === undefined ? {} : { cv: 1 }),
    ...(inFields === undefined || inFields.numeric.length === 0 ? {} : { nv: inFields.numeric }),
  });
  return frame([head, blobFields.join(" ")], [checkpoint, metadata]);
}

export function decodeCheckpointRecord(buffer: Buffer): DecodedCheckpointRecord {
  const { lines, body } = unframe(buffer, 2);
  const head = JSON.parse(lines[0] as string) as {
    v: number;
    parent: string | null;
    ct: string;
    cn: number;
    mt: string;
    cv?: 1;
    nv?: number[];
  };
  if (!READABLE_FORMATS.has(head.v))
    throw new Error(`RedisSaver: unknown checkpoint record format ${head.v}`);
  if (!Number.isInteger(head.cn) || head.cn < 0 || head.cn > body.byteLength) {
    throw new Error("RedisSaver: malformed stored value (checkpoint length beyond the record)");
  }
  const fields = lines[1] as string;
  return {
    parent: head.parent,
    checkpointType: head.ct,
    metadataType: head.mt,
    versionsInFields: head.cv === 1 ? { numeric: head.nv ?? [] } : undefined,
    blobFields: fields === "" ? [] : fields.split(" "),
    checkpoint: plain(body.subarray(0, head.cn)),
    metadata: plain(body.subarray(head.cn)),
  };
}

/**
 * The blob fields of a checkpoint's record (line 2), one per channel of its channel_versions in their
 * order, and, when those fields can carry the versions (strings and finite numbers: a field holds the
 * version as text), the places of the numeric ones. Undefined `versionsInFields`: the checkpoint bytes
 * keep channel_versions (format 1 layout).
 */
export function checkpointBlobFields(
  ns: string,
  versions: ChannelVersions | undefined,
): { blobFields: string[]; versionsInFields: { numeric: number[] } | undefined } {
  const blobFields: string[] = [];
  const numeric: number[] = [];
  let rebuildable = versions !== undefined && versions !== null;
  for (const [channel, version] of Object.entries((versions ?? {}) as Record<string, unknown>)) {
    if (typeof version === "number" && Number.isFinite(version)) numeric.push(blobFields.length);
    else if (typeof version !== "string") rebuildable = false;
    blobFields.push(blobField(ns, channel, version as string | number));
  }
  return { blobFields, versionsInFields: rebuildable ? { numeric } : undefined };
}

/** channel_versions rebuilt from a record's parsed blob fields (the inverse of `checkpointBlobFields`). */
export function versionsFromFields(
  fields: readonly { channel: string; version: string }[],
  numeric: readonly number[],
): ChannelVersions {
  const numbers = new Set(numeric);
  // fromEntries defines own properties: a channel named "__proto__" stays a channel.
  return Object.fromEntries(
    fields.map(({ channel, version }, i) => [channel, numbers.has(i) ? Number(version) : version]),
  ) as ChannelVersions;
}

/** A channel value: the serializer's type on the header line, its bytes as the body. */
export function encodeBlob(type: string, value: Uint8Array): Buffer {
  if (type === EMPTY_BLOB_TYPE || type.includes("\n")) {
    throw new Error(
      `RedisSaver: the serializer returned the type ${JSON.stringify(type)}, which a stored channel value ` +
        `cannot carry (it must not contain a newline or be "${EMPTY_BLOB_TYPE}"). Use a serializer whose types are plain names.`,
    );
  }
  return frame([type], [value]);
}

/** A channel that has no value at this version. */
export function emptyBlob(): Buffer {
  return frame([EMPTY_BLOB_TYPE], []);
}

export function decodeBlob(buffer: Buffer): { type: string; value: Uint8Array } {
  const { lines, body } = unframe(buffer, 1);
  return { type: lines[0] as string, value: plain(body) };
}

export function encodeWrite(header: WriteHeader, value: Uint8Array): Buffer {
  const head = JSON.stringify({
    task: header.taskId,
    idx: header.idx,
    channel: header.channel,
    type: header.type,
    path: header.taskPath,
  });
  return frame([head], [value]);
}

export function decodeWrite(buffer: Buffer): DecodedWrite {
  const { lines, body } = unframe(buffer, 1);
  const head = JSON.parse(lines[0] as string) as {
    task: string;
    idx: number;
    channel: string;
    type: string;
    path: string;
  };
  return {
    taskId: head.task,
    idx: head.idx,
    channel: head.channel,
    type: head.type,
    taskPath: head.path,
    value: plain(body),
  };
}
