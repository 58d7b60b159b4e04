/**
 * The header blocks inside grpc-ws metadata frames (frames.ts): response headers and
 * trailers as HTTP/1-style `Name: value\r\n` lines, written the way Go's
 * `http.Header.Write` writes them (the Go principal's encoder) and read the way Go's
 * `textproto.ReadMIMEHeader` reads them (the Go agent's decoder): names in canonical
 * form (`Grpc-Status`), sorted, one line per value, CR/LF in values turned into spaces and
 * surrounding blanks trimmed. Reading is strict: a line without a colon, a name that is
 * not an HTTP token, a control character in a value or a folded continuation line is a
 * `GrpcWsFrameError`. Names come back lower-cased, as HTTP/2 and gRPC metadata want them.
 *
 * @example
 *   encodeHeaderBlock({ "grpc-status": "0", "grpc-message": "" }).toString();
 *   // "Grpc-Message: \r\nGrpc-Status: 0\r\n"
 *   parseHeaderBlock(Buffer.from("Grpc-Status: 0\r\n")); // { "grpc-status": ["0"] }
 */
import { GrpcWsFrameError } from "./frames.ts";

export type HeaderValues = Record<string, string[]>;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Go's validHeaderValueByte: no control characters except horizontal tab.
// eslint-disable-next-line no-control-regex
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Go's CanonicalMIMEHeaderKey: `grpc-status` → `Grpc-Status`; a name that is not a token is kept as is. */
export function canonicalHeaderName(name: string): string {
  if (!TOKEN.test(name)) return name;
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/**
 * gRPC's percent-encoding of `grpc-message` (as grpc-go's encodeGrpcMessage): bytes
 * outside printable ASCII and `%` become `%XX` of their UTF-8 bytes.
 */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Encodes headers (values: string, number or list; undefined skipped) as Go's Header.Write would. */
export function encodeHeaderBlock(headers: Record<string, string | number | readonly string[] | undefined>): Buffer {
  const byName = new Map<string, string[]>();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const key = canonicalHeaderName(name);
    const list = byName.get(key) ?? [];
    for (const v of Array.isArray(value) ? value : [String(value)]) list.push(v);
    byName.set(key, list);
  }
  let out = "";
  for (const key of [...byName.keys()].sort()) {
    for (const v of byName.get(key)!) out += `${key}: ${v.replace(/[\r\n]/g, " ").replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "")}\r\n`;
  }
  return Buffer.from(out, "latin1");
}

/**
 * Parses a header block. Lines end in CRLF (a bare LF is accepted, as Go does); the last
 * line may omit its terminator only when the block is empty.
 * @throws GrpcWsFrameError naming the bad line (truncated to 80 characters).
 */
export function parseHeaderBlock(block: Buffer): HeaderValues {
  const out: HeaderValues = Object.create(null) as HeaderValues;
  if (block.length === 0) return out;
  const text = block.toString("latin1");
  if (!text.endsWith("\n")) throw new GrpcWsFrameError("header block does not end with a line break");
  const lines = text.slice(0, -1).split("\n");
  for (const raw of lines) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const shown = JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
    if (line === "") throw new GrpcWsFrameError("empty line inside a header block");
    if (line[0] === " " || line[0] === "\t") throw new GrpcWsFrameError(`folded header line ${shown} is not accepted`);
    const colon = line.indexOf(":");
    if (colon <= 0) throw new GrpcWsFrameError(`malformed header line ${shown}`);
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new GrpcWsFrameError(`invalid header name in line ${shown}`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (BAD_VALUE_CHAR.test(value)) throw new GrpcWsFrameError(`control character in the value of header ${name}`);
    (out[name.toLowerCase()] ??= []).push(value);
  }
  return out;
}
