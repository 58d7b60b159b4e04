/**
 * The web terminal's WebSocket frames as upstream reads and writes them
 * (live-resources.md §5.2): Kubernetes channel framing (byte 0 = channel:
 * 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize) plus Argo CD's JSON resize
 * message. Pure functions, so the rules are tested without sockets.
 *
 * @example
 *   classifyInbound(Buffer.from('\x04{"Width":100,"Height":30}')); // { resize: { cols: 100, rows: 30 } }
 *   classifyInbound(Buffer.from("\x00ls\n"));                       // { stdin: <"ls\n"> }
 */

export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;

export type Inbound = { resize: { cols: number; rows: number } } | { stdin: Buffer } | { closeStdin: true };

const U32 = 0xffffffff;

/** Go's json.Unmarshal into uint32 fields: numbers in range, missing = 0; anything else fails. */
function u32(v: unknown): number | undefined {
  if (v === undefined) return 0;
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= U32 ? v : undefined;
}

/** Go decodes JSON keys case-insensitively; the last match wins. */
function field(obj: Record<string, unknown>, name: string): unknown {
  let out: unknown;
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === name.toLowerCase()) out = v;
  return out;
}

function parseObject(b: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(b.toString("utf8"));
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `{"Width":c,"Height":r}`, not both 0. */
function k8sResize(b: Buffer): { cols: number; rows: number } | undefined {
  const o = parseObject(b);
  if (!o) return undefined;
  const cols = u32(field(o, "Width"));
  const rows = u32(field(o, "Height"));
  if (cols === undefined || rows === undefined || (cols === 0 && rows === 0)) return undefined;
  return { cols, rows };
}

/** `{"operation":"resize","cols":c,"rows":r}` (Argo CD's UI). */
function argoResize(b: Buffer): { cols: number; rows: number } | undefined {
  const o = parseObject(b);
  if (!o || field(o, "operation") !== "resize") return undefined;
  const cols = u32(field(o, "cols"));
  const rows = u32(field(o, "rows"));
  return cols === undefined || rows === undefined ? undefined : { cols, rows };
}

/**
 * One binary or text frame from the WebSocket client. v5's close-stdin signal
 * `[255, 0]` closes stdin (upstream passes those two bytes to stdin).
 */
export function classifyInbound(data: Buffer): Inbound {
  if (data.length === 2 && data[0] === 255 && data[1] === Channel.stdin) return { closeStdin: true };
  if (data.length > 1 && data[0] === Channel.resize) {
    const r = k8sResize(data.subarray(1));
    if (r) return { resize: r };
  } else if (data.length > 0) {
    const payload = data.length > 1 && data[0]! < Channel.resize && data[1] === 0x7b ? data.subarray(1) : data;
    if (payload[0] === 0x7b) {
      const r = k8sResize(payload) ?? argoResize(payload);
      if (r) return { resize: r };
    }
  }
  return { stdin: data.length > 0 && data[0] === Channel.stdin ? data.subarray(1) : data };
}

/** Output for the client: channel byte + data (stderr 2, error 3, anything else stdout). */
export function outboundFrame(streamType: string, data: Uint8Array): Buffer {
  const ch = streamType === "stderr" ? Channel.stderr : streamType === "error" ? Channel.error : Channel.stdout;
  const out = Buffer.allocUnsafe(data.length + 1);
  out[0] = ch;
  out.set(data, 1);
  return out;
}
