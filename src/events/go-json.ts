/**
 * JSON text exactly as Go's `encoding/json.Marshal` writes a generic value
 * (`map[string]any` from an unstructured Kubernetes object). Only needed where
 * bytes are hashed (resync spec checksums, wire-protocol.md §8.2), since both
 * peers must hash identical text:
 *
 * - object keys sorted by their UTF-8 bytes at every depth, no whitespace;
 * - strings with Go's HTML-safe escaping: `<` `>` `&` as \u003c \u003e \u0026,
 *   U+2028/U+2029 as \u2028/\u2029, \b \f \n \r \t short forms, other control
 *   characters as \u00XX (lower-case hex); lone surrogates (invalid UTF-16,
 *   which Go's decoder would have turned into U+FFFD) as U+FFFD;
 * - numbers as Go prints the int64/float64 that Kubernetes decoded (same
 *   shortest digits as JS; exponent only below 1e-6 or from 1e21, e.g.
 *   `1e-7`, `1e+21`). Integers beyond 2^53 have already lost precision in JS,
 *   where Go keeps int64 exact — a known limit, harmless for Argo CD specs.
 *
 * @example
 *   goJsonMarshal({ b: 1, a: "<x>" }) // { ok: true, value: '{"a":"\\u003cx\\u003e","b":1}' }
 */
import { err, ok, type Result } from "./result.ts";

export function goJsonMarshal(value: unknown): Result<string, string> {
  const out: string[] = [];
  const problem = write(value, out, new Set());
  return problem === undefined ? ok(out.join("")) : err(problem);
}

/** Appends the JSON of `v`; returns an error message when Go could not marshal it either. */
function write(v: unknown, out: string[], seen: Set<object>): string | undefined {
  if (v === null || v === undefined) {
    out.push("null");
    return undefined;
  }
  switch (typeof v) {
    case "boolean":
      out.push(v ? "true" : "false");
      return undefined;
    case "number":
      if (!Number.isFinite(v)) return `unsupported value: ${v}`;
      out.push(String(v)); // -0 prints as 0: Kubernetes decodes JSON "-0" to int64 0
      return undefined;
    case "bigint":
      out.push(v.toString());
      return undefined;
    case "string":
      out.push(quote(v));
      return undefined;
    case "object":
      break;
    default:
      return `unsupported type: ${typeof v}`;
  }
  const obj = v as object;
  if (seen.has(obj)) return "unsupported value: cyclic structure";
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      out.push("[");
      for (let i = 0; i < obj.length; i++) {
        if (i > 0) out.push(",");
        const p = write(obj[i], out, seen);
        if (p !== undefined) return p;
      }
      out.push("]");
      return undefined;
    }
    const entries = Object.entries(obj).filter(([, x]) => x !== undefined);
    entries.sort(([a], [b]) => compareUtf8(a, b));
    out.push("{");
    let first = true;
    for (const [k, x] of entries) {
      if (!first) out.push(",");
      first = false;
      out.push(quote(k), ":");
      const p = write(x, out, seen);
      if (p !== undefined) return p;
    }
    out.push("}");
    return undefined;
  } finally {
    seen.delete(obj);
  }
}

/** Byte-wise comparison of the UTF-8 encodings, as Go compares strings. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

const SHORT_ESCAPES: Record<number, string> = {
  0x22: '\\"', 0x5c: "\\\\", 0x08: "\\b", 0x0c: "\\f", 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t",
};

function quote(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      rep = SHORT_ESCAPES[c] ?? `\\u00${c.toString(16).padStart(2, "0")}`;
    } else if (c === 0x2028 || c === 0x2029) {
      rep = `\\u${c.toString(16)}`;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const isPair = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (isPair) {
        i++;
        continue;
      }
      rep = "\ufffd";
    }
    if (rep !== undefined) {
      out += s.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}
