import { connect } from "node:net";

/** An error reply (`-ERR ...`) from Redis. */
export class RespError extends Error {
  override name = "RespError";
}

export type RespValue = string | number | null | RespError | RespValue[];

interface Parsed {
  value: RespValue;
  next: number;
}

/** Parses one RESP2 reply starting at `offset`; undefined when the buffer does not hold a full reply yet. */
function parseReply(buf: Buffer, offset: number): Parsed | undefined {
  if (offset >= buf.length) return undefined;
  const lineEnd = buf.indexOf("\r\n", offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buf[offset] as number);
  const line = buf.toString("utf8", offset + 1, lineEnd);
  const afterLine = lineEnd + 2;
  switch (type) {
    case "+":
      return { value: line, next: afterLine };
    case "-":
      return { value: new RespError(line), next: afterLine };
    case ":":
      return { value: Number(line), next: afterLine };
    case "$": {
      const len = Number(line);
      if (len < 0) return { value: null, next: afterLine };
      if (buf.length < afterLine + len + 2) return undefined;
      return { value: buf.toString("utf8", afterLine, afterLine + len), next: afterLine + len + 2 };
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return { value: null, next: afterLine };
      const items: RespValue[] = [];
      let next = afterLine;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, "utf8");
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

export interface RespOptions {
  host?: string;
  /** Whole round-trip deadline (connect + all replies), default 2000 ms. */
  timeoutMs?: number;
}

/**
 * Sends `commands` pipelined over one fresh TCP connection and resolves with one reply per command
 * (error replies are returned as RespError values, not thrown). Rejects on connection errors/timeouts.
 * A minimal client for test infrastructure (readiness probes, CLUSTER INFO); not for the code under test.
 */
export function respCommands(
  port: number,
  commands: readonly (readonly string[])[],
  options: RespOptions = {},
): Promise<RespValue[]> {
  const { host = "127.0.0.1", timeoutMs = 2000 } = options;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buffer = Buffer.alloc(0);
    let offset = 0;
    const replies: RespValue[] = [];
    let settled = false;
    const finish = (error: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(replies);
    };
    const timer = setTimeout(
      () => finish(new Error(`no reply from ${host}:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on("connect", () => {
      socket.write(Buffer.concat(commands.map(encodeCommand)));
    });
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      try {
        for (;;) {
          const parsed = parseReply(buffer, offset);
          if (!parsed) break;
          replies.push(parsed.value);
          offset = parsed.next;
          if (replies.length === commands.length) return finish(undefined);
        }
      } catch (error) {
        finish(error as Error);
      }
    });
    socket.on("error", (error) => finish(error));
    socket.on("close", () => finish(new Error(`connection to ${host}:${port} closed before all replies`)));
  });
}

/** Sends one command and resolves with its reply; an error reply rejects with RespError. */
export async function respCommand(
  port: number,
  args: readonly string[],
  options: RespOptions = {},
): Promise<RespValue> {
  const [reply] = await respCommands(port, [args], options);
  if (reply instanceof RespError) throw reply;
  return reply ?? null;
}

/** Parses `INFO`/`CLUSTER INFO` text (`key:value` lines) into a record. */
export function parseInfo(text: string): Record<string, string> {
  const info: Record<string, string> = {};
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0 && !line.startsWith("#")) info[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return info;
}
