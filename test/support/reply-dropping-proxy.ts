import { connect, createServer, type Socket } from "node:net";

/*
 * A loopback TCP proxy between a client and redis-server that can lose one reply the way a network
 * does: the request reaches Redis and runs, and the connection drops instead of relaying its reply.
 * ioredis then reconnects and sends the unanswered command again (autoResendUnfulfilledCommands, on
 * by default), which is what tests of "safe to run twice" need to provoke for real.
 */

export interface ReplyDroppingProxy {
  port: number;
  /** Client chunks that matched the armed predicate: the request and any re-sent copy. */
  requests: string[];
  /** The replies dropped instead of relayed. */
  dropped: string[];
  /**
   * Drop the connection instead of relaying the reply to the next client chunk that `matches`
   * (a string: the chunk contains it). Chunks are RESP text, read as latin1.
   */
  dropReplyTo(matches: string | ((request: string) => boolean)): void;
  close(): Promise<void>;
}

export async function startReplyDroppingProxy(targetPort: number): Promise<ReplyDroppingProxy> {
  const sockets = new Set<Socket>();
  let matches: ((request: string) => boolean) | undefined;
  let armed = false;
  const requests: string[] = [];
  const dropped: string[] = [];
  const server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk: Buffer) => {
      const text = chunk.toString("latin1");
      if (matches?.(text)) {
        requests.push(text);
        if (requests.length === 1) armed = true; // only the first one's reply is lost
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (armed) {
        armed = false;
        dropped.push(chunk.toString("latin1"));
        end();
        return;
      }
      client.write(chunk);
    });
    for (const socket of [client, upstream]) {
      socket.on("error", end);
      socket.on("close", end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no port");
  return {
    port: address.port,
    requests,
    dropped,
    dropReplyTo(match) {
      matches = typeof match === "string" ? (request) => request.includes(match) : match;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
