/**
 * Which Kubernetes failures are worth a redelivery (withhold the ack so the
 * peer re-sends), mirroring upstream's IsRetryableError: throttling, server
 * errors, timeouts and transport failures. Everything else is acked and logged.
 */
import { apiStatusCode } from "../kube/crud.ts";
import type { HandlerOutcome } from "../transport/event-session.ts";

export function isRetryable(err: unknown): boolean {
  const code = apiStatusCode(err);
  if (code === undefined) return true; // no HTTP answer: connection reset, timeout, DNS…
  return code === 409 || code === 429 || code === 500 || code === 502 || code === 503 || code === 504;
}

export function errorText(err: unknown): string {
  const e = err as { message?: string; body?: unknown };
  const body = typeof e.body === "string" ? e.body.slice(0, 300) : "";
  return `${e.message ?? String(err)}${body ? ` ${body}` : ""}`;
}

/** A handler outcome that also says the API server gave no answer (see withApiRetries). */
export interface ReplicationOutcome extends HandlerOutcome {
  apiUnreachable?: boolean;
}

/** What a handler returns after `err`: a redelivery when retryable, otherwise an acked failure. */
export function failure(err: unknown): ReplicationOutcome {
  if (apiStatusCode(err) === undefined) return { retryableFailure: true, apiUnreachable: true };
  return isRetryable(err) ? { retryableFailure: true } : { failed: true };
}

/** What a handler returns for an event it refuses (malformed, not allowed, unknown). */
const REJECTED: HandlerOutcome = Object.freeze({ rejected: true });

/** Logs why an event is refused and returns REJECTED. */
export function rejected(logger: { warn(msg: string, fields?: Record<string, unknown>): void }, msg: string, fields: Record<string, unknown>): HandlerOutcome {
  logger.warn(msg, fields);
  return REJECTED;
}
