import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { blobField, parseBlobField } from "./saver-keys.js";
import {
  checkpointBlobFields,
  decodeBlob,
  decodeCheckpointRecord,
  decodeWrite,
  EMPTY_BLOB_TYPE,
  emptyBlob,
  encodeBlob,
  encodeCheckpointRecord,
  encodeWrite,
  versionsFromFields,
} from "./saver-records.js";

/** Any text, newlines and JSON-breaking characters included. */
const text = fc.oneof(fc.string({ unit: "grapheme" }), fc.constantFrom("\n", "a\nb", '"}', "\\", "\r\n"));
/** Bytes that look like header lines too. */
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.string().map((s) => new Uint8Array(Buffer.from(`${s}\n{"v":1}\n`, "utf8"))),
);
/** Serializer types as stored on a blob's header line: no newline, and never the empty marker. */
const blobType = fc.string({ minLength: 1 }).filter((t) => !t.includes("\n") && t !== EMPTY_BLOB_TYPE);

describe("RedisSaver stored values", () => {
  it("reads a checkpoint record back exactly: header, blob fields, checkpoint and metadata bytes", () => {
    fc.assert(
      fc.property(
        fc.option(text, { nil: null }),
        text,
        text,
        fc.array(fc.tuple(text, text, text)),
        fc.option(fc.array(fc.nat()), { nil: undefined }),
        bytes,
        bytes,
        (parent, checkpointType, metadataType, blobs, numeric, checkpoint, metadata) => {
          const fields = blobs.map(([ns, channel, version]) => blobField(ns, channel, version));
          const versionsInFields = numeric === undefined ? undefined : { numeric };
          const stored = encodeCheckpointRecord(
            { parent, checkpointType, metadataType, versionsInFields },
            fields,
            checkpoint,
            metadata,
          );
          expect(decodeCheckpointRecord(stored)).toEqual({
            parent,
            checkpointType,
            metadataType,
            versionsInFields,
            blobFields: fields,
            checkpoint,
            metadata,
          });
        },
      ),
    );
  });

  it("still reads records of format 1 (channel_versions inside the checkpoint bytes)", () => {
    const checkpoint = Buffer.from('{"v":4,"id":"c1","channel_versions":{"a":"00000000000000000001.x"}}');
    const stored = Buffer.concat([
      Buffer.from(
        `{"v":1,"parent":"c0","ct":"json","cn":${checkpoint.length},"mt":"json"}\n:a:00000000000000000001.x\n`,
      ),
      checkpoint,
      Buffer.from('{"step":1}'),
    ]);
    expect(decodeCheckpointRecord(stored)).toEqual({
      parent: "c0",
      checkpointType: "json",
      metadataType: "json",
      versionsInFields: undefined,
      blobFields: [":a:00000000000000000001.x"],
      checkpoint: new Uint8Array(checkpoint),
      metadata: new Uint8Array(Buffer.from('{"step":1}')),
    });
  });

  it("rebuilds channel_versions from the blob fields exactly, numbers as numbers", () => {
    const version = fc.oneof(
      fc.string({ unit: "grapheme" }),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
    );
    fc.assert(
      fc.property(text, fc.dictionary(text, version), (ns, versions) => {
        const { blobFields, versionsInFields } = checkpointBlobFields(ns, versions);
        expect(blobFields).toEqual(Object.entries(versions).map(([c, v]) => blobField(ns, c, v)));
        const numeric = versionsInFields?.numeric ?? [];
        expect(versionsFromFields(blobFields.map(parseBlobField), numeric)).toStrictEqual(
          Object.fromEntries(Object.entries(versions).map(([c, v]) => [c, Object.is(v, -0) ? 0 : v])),
        );
      }),
    );
  });

  it("leaves channel_versions in the bytes for a version neither a string nor a finite number; keeps __proto__", () => {
    const odd = { a: "1.x", b: Number.POSITIVE_INFINITY } as unknown as Record<string, number>;
    expect(checkpointBlobFields("", odd).versionsInFields).toBeUndefined();
    expect(checkpointBlobFields("", undefined)).toEqual({ blobFields: [], versionsInFields: undefined });
    expect(checkpointBlobFields("", { a: "1.x", b: 2 }).versionsInFields).toEqual({ numeric: [1] });
    // A channel named __proto__ comes back as a channel, not as the object's prototype.
    const proto = JSON.parse('{"__proto__":"7.x"}') as Record<string, number>;
    const { blobFields } = checkpointBlobFields("", proto);
    expect(versionsFromFields(blobFields.map(parseBlobField), [])).toStrictEqual(proto);
  });

  it("keeps the blob fields on one line, split on spaces alone (what the get script reads)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text, text), { minLength: 1 }), bytes, (blobs, checkpoint) => {
        const fields = blobs.map(([ns, channel, version]) => blobField(ns, channel, version));
        const stored = encodeCheckpointRecord(
          { parent: null, checkpointType: "json", metadataType: "json" },
          fields,
          checkpoint,
          new Uint8Array(),
        );
        const secondLine = stored.toString("latin1").split("\n")[1] as string;
        expect(secondLine.split(" ")).toEqual(fields);
        expect(secondLine).not.toMatch(/[\t\r\v\f]/);
      }),
    );
  });

  it("reads a channel value back exactly, and tells an empty channel apart", () => {
    fc.assert(
      fc.property(blobType, bytes, (type, value) => {
        expect(decodeBlob(encodeBlob(type, value))).toEqual({ type, value });
      }),
    );
    expect(decodeBlob(emptyBlob())).toEqual({ type: EMPTY_BLOB_TYPE, value: new Uint8Array() });
  });

  it("refuses a serializer type it could not read back, before anything is stored", () => {
    expect(() => encodeBlob("js\non", new Uint8Array([1]))).toThrow(/must not contain a newline/);
    expect(() => encodeBlob(EMPTY_BLOB_TYPE, new Uint8Array([1]))).toThrow(
      /must not contain a newline or be "empty"/,
    );
  });

  it("reads a pending write back exactly", () => {
    fc.assert(
      fc.property(
        text,
        fc.integer({ min: -1000, max: 1000 }),
        text,
        text,
        text,
        bytes,
        (taskId, idx, channel, type, taskPath, value) => {
          const header = { taskId, idx, channel, type, taskPath };
          expect(decodeWrite(encodeWrite(header, value))).toEqual({ ...header, value });
        },
      ),
    );
  });

  it("returns plain copies: changing a decoded value leaves the stored bytes alone", () => {
    const stored = encodeBlob("bytes", new Uint8Array([1, 2, 3]));
    const decoded = decodeBlob(stored);
    decoded.value[0] = 9;
    expect(decodeBlob(stored).value).toEqual(new Uint8Array([1, 2, 3]));
    expect(Buffer.isBuffer(decoded.value)).toBe(false);
  });

  it("refuses malformed records with a RedisSaver error", () => {
    const stored = encodeCheckpointRecord(
      { parent: null, checkpointType: "json", metadataType: "json" },
      [],
      new Uint8Array([1, 2, 3]),
      new Uint8Array([4]),
    );
    expect(() => decodeCheckpointRecord(Buffer.from("no header line"))).toThrow(/malformed stored value/);
    expect(() => decodeCheckpointRecord(stored.subarray(0, stored.length - 3))).toThrow(
      /checkpoint length beyond the record/,
    );
    const future = Buffer.from(stored.toString("latin1").replace('"v":2', '"v":3'), "latin1");
    expect(() => decodeCheckpointRecord(future)).toThrow(/unknown checkpoint record format 3/);
  });
});
