/**
 * The RESP frames the proxy writes itself, byte for byte as upstream writes
 * them (live-resources.md §3.3), plus the re-serialisation of a client command
 * for the hub's redis. Parsing is left to the `redis-parser` library.
 *
 * @example
 *   socket.write(getHit(Buffer.from("v")));            // $1\r\nv\r\n
 *   socket.write(subscribeAck("app|managed-resources|a_g|1.8.3"));
 */

const CRLF = "\r\n";

/** A GET answered from the agent's redis: a bulk string. */
export function getHit(value: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`$${value.length}${CRLF}`), value, Buffer.from(CRLF)]);
}

/** A GET the agent's redis had no value for: upstream answers an empty error (its tests pin it). */
export const CACHE_MISS = Buffer.from(`-${CRLF}`);

/**
 * Acknowledges an agent-routed SUBSCRIBE; the count is always 1, as upstream. A RESP3 push
 * (`>`) as upstream writes it, or the array a RESP2 client expects (upstream always pushes).
 */
export function subscribeAck(channel: string, resp3 = true): Buffer {
  return Buffer.from(`${resp3 ? ">" : "*"}3${CRLF}$9${CRLF}subscribe${CRLF}$${Buffer.byteLength(channel)}${CRLF}${channel}${CRLF}:1${CRLF}`);
}

/** A notification on an agent-routed channel; the payload is always empty (Argo CD publishes ""). */
export function pushMessage(channel: string, resp3 = true): Buffer {
  return Buffer.from(`${resp3 ? ">" : "*"}3${CRLF}$7${CRLF}message${CRLF}$${Buffer.byteLength(channel)}${CRLF}${channel}${CRLF}$0${CRLF}${CRLF}`);
}

/** An error reply: `-ERR <text>`; CR/LF in the text would end the frame early, so they become spaces. */
export function errorReply(text: string): Buffer {
  return Buffer.from(`-ERR ${text.replace(/[\r\n]+/g, " ")}${CRLF}`);
}

/** One client command (its parsed parts) as a RESP array of bulk strings, for the hub's redis. */
export function encodeCommand(parts: readonly Buffer[]): Buffer {
  const chunks: Buffer[] = [Buffer.from(`*${parts.length}${CRLF}`)];
  for (const p of parts) chunks.push(Buffer.from(`$${p.length}${CRLF}`), p, Buffer.from(CRLF));
  return Buffer.concat(chunks);
}
