/**
 * The `ctl ha` commands' client of the principal's HA admin API
 * (`haadminapi.HAAdmin`, operations.md §4.7): plaintext gRPC to one address
 * (the principal's 127.0.0.1:8405 reached directly or through a
 * port-forward), each call bounded by a deadline, and every gRPC failure
 * turned into a `CtlError` that says what happened in words
 * (`FailedPrecondition` → the principal's refusal, `Unavailable` → cannot
 * reach it, `DeadlineExceeded` → no answer in time).
 *
 * @example
 *   const admin = haAdminClient("127.0.0.1:8405", "127.0.0.1:8405");
 *   try { out((await admin.status(Date.now() + 10_000)).state); } finally { admin.close(); }
 */
import { credentials, Metadata, status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { HAAdminClient, type HAStatusResponse } from "../proto/gen/haadmin.ts";
import { CtlError } from "./ctl-context.ts";

export interface HaAdmin {
  status(deadline: number): Promise<HAStatusResponse>;
  /** The state after the transition. */
  promote(force: boolean, deadline: number): Promise<string>;
  demote(deadline: number): Promise<string>;
  close(): void;
}

/** Upper-camel gRPC code names, as grpc-go prints them (`FailedPrecondition`). */
function codeName(code: number): string {
  const name = (grpcStatus as unknown as Record<number, string>)[code] ?? String(code);
  return name.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

/** What a tunnel knows about a failed connection (the port-forward's own error), for messages. */
export interface DialContext {
  /** Why the last connection failed, "" if unknown. */
  reason(): string;
  /** False when the failure was not at the principal (e.g. the Kubernetes API refused the port-forward). */
  reachedPod(): boolean;
}

const NO_CONTEXT: DialContext = { reason: () => "", reachedPod: () => true };

/**
 * A gRPC failure as one line. `where` names what was dialled (an address, or
 * the pod behind a port-forward); the dial context's reason replaces gRPC's
 * generic "No connection established" when there is one.
 */
export function haAdminError(op: string, where: string, err: ServiceError, dial: DialContext = NO_CONTEXT): CtlError {
  // grpc-js appends an empty "Resolution note:" to connection failures.
  const details = (err.details || err.message).replace(/\.?\s*Resolution note:\s*$/, "");
  const reason = dial.reason();
  switch (err.code) {
    case grpcStatus.FAILED_PRECONDITION:
      return new CtlError(`${op} refused by the principal: ${details}`);
    case grpcStatus.UNAVAILABLE: {
      const suggestion = dial.reachedPod() ? " (is the principal running with --ha-enabled?)" : "";
      return new CtlError(`cannot reach the HA admin API at ${where}: ${reason || details}${suggestion}`);
    }
    case grpcStatus.DEADLINE_EXCEEDED:
      return new CtlError(`no answer from the HA admin API at ${where} in time (-t/--timeout): ${details}${reason ? `; ${reason}` : ""}`);
    case grpcStatus.UNIMPLEMENTED:
      return new CtlError(`${where} does not serve the HA admin API (haadminapi.HAAdmin): ${details}`);
    default:
      return new CtlError(`${op} failed: ${details} (${codeName(err.code)})`);
  }
}

/**
 * A client for `address` (host:port). `where` is how errors name the target;
 * `dial` explains failed connections of a tunnel.
 */
export function haAdminClient(address: string, where: string, dial: DialContext = NO_CONTEXT): HaAdmin {
  const client = new HAAdminClient(address, credentials.createInsecure(), {
    // One short-lived call per process: no reconnect backoff worth waiting for.
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 1000,
  });
  const call = <T>(op: string, run: (cb: (err: ServiceError | null, res: T) => void) => void): Promise<T> =>
    new Promise((resolve, reject) => run((err, res) => (err ? reject(haAdminError(op, where, err, dial)) : resolve(res))));
  return {
    status: (deadline) => call<HAStatusResponse>("status", (cb) => client.status({}, new Metadata(), { deadline }, cb)),
    promote: async (force, deadline) =>
      (await call<{ state: string }>("promote", (cb) => client.promote({ force }, new Metadata(), { deadline }, cb))).state,
    demote: async (deadline) =>
      (await call<{ state: string }>("demote", (cb) => client.demote({}, new Metadata(), { deadline }, cb))).state,
    close: () => client.close(),
  };
}
