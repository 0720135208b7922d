import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { olderText, record } from "./record-arbitraries.js";
import { parseCreationFields, parseRecordText, recordText } from "./record-text.js";
import { STREAM_FUNCTIONS } from "./scripts.js";
import { useRedisServer } from "./test-support.js";

/*
 * Field `r` of a creation entry, as the scripts write it, run in a real redis-server on generated
 * records: whole (a release, a replacement) it is the record's owner, created and meta lines; without
 * the arguments (every other change) it is the same once a reader gives it the record's arguments.
 */

const redis = useRedisServer();
const CREATION_FIELDS = `${STREAM_FUNCTIONS}
local f = parse(ARGV[1])
return { creation_fields(f, false), creation_fields(f, true) }`;

describe("creation fields a script writes beside creation events", () => {
  it("leave out only the arguments, of any record and of records of the earlier layout", async () => {
    const client = redis.client();
    await fc.assert(
      fc.asyncProperty(record, fc.boolean(), async (r, older) => {
        const text = older ? olderText(r) : recordText(r, "");
        const [stripped, whole] = (await client.eval(CREATION_FIELDS, 0, text)) as [string, string];
        const lines = text.split("\n");
        expect(whole).toBe([lines[2], lines[8], lines[9]].join("\n"));

        const completed = parseCreationFields(stripped);
        const { record: stored } = parseRecordText(text, "k");
        if (completed.args === undefined && stored.args !== undefined) completed.args = stored.args;
        expect(completed).toEqual(parseCreationFields(whole));
        // The arguments are left out exactly when they are the meta line's last member.
        const leftOut = !older && r.args !== undefined;
        expect(stripped.length < whole.length).toBe(leftOut);
      }),
      { numRuns: 300 },
    );
  });
});
