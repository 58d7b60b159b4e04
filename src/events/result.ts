/**
 * Outcome of an operation on untrusted input: parsing what a peer sent never
 * throws, it returns `{ ok: false, error }` so the caller decides whether to
 * log, ack, or tear the stream down.
 *
 * @example
 *   const r = parseSomething(bytes);
 *   if (!r.ok) return log.warn("dropped", { reason: r.error.message });
 *   use(r.value);
 */
export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

export function err<E>(error: E): { readonly ok: false; readonly error: E } {
  return { ok: false, error };
}
