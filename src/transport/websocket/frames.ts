/**
 * The grpc-ws frames (wire-protocol.md §2.1, the framing of golang.stackrox.io/grpc-http1):
 * every binary WebSocket message is one 5-byte-prefixed frame, flag byte then a 4-byte
 * big-endian length then exactly that many bytes. Flag 0x00/0x01 is a gRPC message
 * (0x01 = compressed), forwarded with its prefix as gRPC puts it on HTTP/2; flag 0x80 is a
 * metadata frame holding an HTTP/1-style header block (header-block.ts); the client's
 * "no more requests" marker is the empty metadata frame `80 00 00 00 00`. One WebSocket
 * message is capped at 64 MiB on both sides, as upstream. `MessageSplitter` cuts an HTTP/2
 * DATA byte stream (which does not respect message boundaries) into whole frames.
 * Anything malformed is a `GrpcWsFrameError` naming what was wrong; nothing here buffers
 * more than one frame of at most the cap.
 *
 * @example
 *   dataFrame(Buffer.from([1, 2]));            // <00 00 00 00 02 01 02>
 *   decodeFrame(Buffer.from([0x80, 0, 0, 0, 0])); // { kind: "metadata", block: <> } (isEndOfStream: true)
 *   const split = new MessageSplitter();
 *   split.push(chunk).forEach((frame) => ws.send(frame));
 */

/** The `Sec-WebSocket-Protocol` value both sides use. */
export const GRPC_WS_SUBPROTOCOL = "grpc-ws";
/** Flag byte, 4-byte big-endian length. */
export const FRAME_PREFIX_BYTES = 5;
export const METADATA_FLAG = 0x80;
export const COMPRESSED_FLAG = 0x01;
/** Upstream's read limit per WebSocket message, on both sides (grpc-http1 `64 * size.MB`). */
export const MAX_WS_MESSAGE_BYTES = 64 * 1024 * 1024;
/** The client's half-close: an empty metadata frame. */
export const END_OF_STREAM: Buffer = Buffer.from([METADATA_FLAG, 0, 0, 0, 0]);

/** A frame that breaks the grpc-ws rules (the peer is buggy or hostile). */
export class GrpcWsFrameError extends Error {
  override name = "GrpcWsFrameError";
}

export type GrpcWsFrame =
  /** `frame` is the whole frame, prefix included: the gRPC length-prefixed message as is. */
  | { kind: "data"; compressed: boolean; frame: Buffer }
  /** `block` is the header block after the prefix (empty for END_OF_STREAM). */
  | { kind: "metadata"; block: Buffer };

function prefix(flag: number, length: number): Buffer {
  const p = Buffer.allocUnsafe(FRAME_PREFIX_BYTES);
  p[0] = flag;
  p.writeUInt32BE(length, 1);
  return p;
}

/** A gRPC message frame around `payload`. */
export function dataFrame(payload: Buffer, compressed = false): Buffer {
  return Buffer.concat([prefix(compressed ? COMPRESSED_FLAG : 0, payload.length), payload]);
}

/** A metadata frame around an encoded header block. */
export function metadataFrame(block: Buffer): Buffer {
  return Buffer.concat([prefix(METADATA_FLAG, block.length), block]);
}

export function isEndOfStream(msg: Buffer): boolean {
  return msg.length === FRAME_PREFIX_BYTES && msg.equals(END_OF_STREAM);
}

/**
 * Checks one WebSocket message and says what it is.
 * @throws GrpcWsFrameError when it is shorter than a prefix, its declared length differs
 *   from its size, a metadata frame is flagged compressed, or unknown flag bits are set.
 */
export function decodeFrame(msg: Buffer): GrpcWsFrame {
  if (msg.length < FRAME_PREFIX_BYTES) {
    throw new GrpcWsFrameError(`frame of ${msg.length} bytes is shorter than the ${FRAME_PREFIX_BYTES}-byte prefix`);
  }
  const flag = msg[0];
  const declared = msg.readUInt32BE(1);
  if (declared !== msg.length - FRAME_PREFIX_BYTES) {
    throw new GrpcWsFrameError(`frame declares ${declared} bytes but carries ${msg.length - FRAME_PREFIX_BYTES}`);
  }
  if (flag & METADATA_FLAG) {
    if (flag !== METADATA_FLAG) throw new GrpcWsFrameError(`metadata frame with flags 0x${flag.toString(16)} (compressed metadata is not supported)`);
    return { kind: "metadata", block: msg.subarray(FRAME_PREFIX_BYTES) };
  }
  if (flag & ~COMPRESSED_FLAG) throw new GrpcWsFrameError(`data frame with unknown flags 0x${flag.toString(16)}`);
  return { kind: "data", compressed: flag === COMPRESSED_FLAG, frame: msg };
}

/**
 * Cuts a byte stream of gRPC length-prefixed messages (an HTTP/2 DATA stream) into whole
 * frames, holding at most one partial frame.
 */
export class MessageSplitter {
  private chunks: Buffer[] = [];
  private held = 0;
  /** Bytes of the frame being assembled, prefix included; 0 while the prefix is incomplete. */
  private need = 0;

  private readonly maxFrameBytes: number;

  constructor(maxFrameBytes = MAX_WS_MESSAGE_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held of an incomplete frame (non-zero at end of stream = truncated message). */
  get pending(): number {
    return this.held;
  }

  /**
   * @throws GrpcWsFrameError when a frame would exceed the cap or carries a metadata/unknown flag.
   */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (chunk.length === 0) return out;
    this.chunks.push(chunk);
    this.held += chunk.length;
    for (;;) {
      if (this.need === 0) {
        if (this.held < FRAME_PREFIX_BYTES) return out;
        const head = this.peekPrefix();
        const flag = head[0];
        if (flag & ~COMPRESSED_FLAG) throw new GrpcWsFrameError(`gRPC message with flags 0x${flag.toString(16)}`);
        const total = FRAME_PREFIX_BYTES + head.readUInt32BE(1);
        if (total > this.maxFrameBytes) {
          throw new GrpcWsFrameError(`gRPC message of ${total - FRAME_PREFIX_BYTES} bytes exceeds the WebSocket message limit of ${this.maxFrameBytes} bytes`);
        }
        this.need = total;
      }
      if (this.held < this.need) return out;
      out.push(this.take(this.need));
      this.need = 0;
    }
  }

  private peekPrefix(): Buffer {
    if (this.chunks[0].length >= FRAME_PREFIX_BYTES) return this.chunks[0].subarray(0, FRAME_PREFIX_BYTES);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, FRAME_PREFIX_BYTES);
  }

  private take(n: number): Buffer {
    let frame: Buffer;
    if (this.chunks[0].length >= n) {
      frame = this.chunks[0].subarray(0, n);
      this.chunks[0] = this.chunks[0].subarray(n);
      if (this.chunks[0].length === 0) this.chunks.shift();
    } else {
      const joined = Buffer.concat(this.chunks);
      frame = joined.subarray(0, n);
      this.chunks = joined.length > n ? [joined.subarray(n)] : [];
    }
    this.held -= n;
    return frame;
  }
}
