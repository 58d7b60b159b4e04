/**
 * A hand-driven caller for the mesh attack tests, run inside a netns "pod"
 * (`ip netns exec <ns> node test/support/mesh-client.ts '<json>'`), since the
 * test process itself lives outside the pods' network. It makes one attempt
 * and prints one JSON line:
 *
 * - `{"action":"tcp","host":…,"port":…}` → `{"connected":true}` or `{"connected":false,"error":"ECONNREFUSED"}`
 * - `{"action":"authenticate","target":"10.123.1.2:15443",…}` → a raw grpc-js
 *   `Authenticate` (method "header", mode "managed") with the given metadata
 *   (a key listed twice is sent as two header fields), over plaintext h2c or
 *   TLS (optional client certificate, SNI / :authority = `serverName`).
 *   Prints `{"ok":true,"sub":…,"clientID":…}` (the access token's decoded `sub`)
 *   or `{"ok":false,"code":"UNAVAILABLE","details":…}`.
 *
 * `runMeshClient(pod, request)` is the test-side wrapper.
 */
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { createSecureContext } from "node:tls";
import { fileURLToPath } from "node:url";
import type { Pod } from "./netns.ts";

export interface TcpProbe {
  action: "tcp";
  host: string;
  port: number;
}

export interface AuthenticateProbe {
  action: "authenticate";
  /** host:port */
  target: string;
  /** Plaintext h2c instead of TLS. */
  plaintext?: boolean;
  /** PEM file paths. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** TLS server name and :authority (default: the target's host). */
  serverName?: string;
  /** Metadata entries in order; repeated keys become repeated header fields. */
  metadata?: [string, string][];
  mode?: "managed" | "autonomous";
  timeoutMs?: number;
}

export type Probe = TcpProbe | AuthenticateProbe;

export type ProbeResult =
  | { connected: boolean; error?: string }
  | { ok: true; sub: string; clientID?: string }
  | { ok: false; code: string; details: string };

const SELF = fileURLToPath(import.meta.url);

/** Runs one probe inside `pod` and returns its parsed result. */
export function runMeshClient(pod: Pod, probe: Probe): ProbeResult {
  const res = pod.run(process.execPath, [SELF, JSON.stringify(probe)], { allowFail: true, timeoutMs: 30_000 });
  const line = res.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as ProbeResult;
  } catch {
    throw new Error(`mesh-client in ${pod.name} printed no result (exit ${res.code}):\n${res.stdout}${res.stderr}`);
  }
}

async function tcp(p: TcpProbe): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ host: p.host, port: p.port, timeout: 5_000 });
    sock.once("connect", () => {
      sock.destroy();
      resolve({ connected: true });
    });
    sock.once("timeout", () => {
      sock.destroy();
      resolve({ connected: false, error: "TIMEOUT" });
    });
    sock.once("error", (err: NodeJS.ErrnoException) => resolve({ connected: false, error: err.code ?? err.message }));
  });
}

async function authenticate(p: AuthenticateProbe): Promise<ProbeResult> {
  const grpc = await import("@grpc/grpc-js");
  const { AuthenticationClient } = await import("../../src/proto/gen/auth.ts");
  let creds;
  if (p.plaintext) {
    creds = grpc.credentials.createInsecure();
  } else {
    const ctx = createSecureContext({
      ca: p.caFile ? readFileSync(p.caFile) : undefined,
      cert: p.certFile ? readFileSync(p.certFile) : undefined,
      key: p.keyFile ? readFileSync(p.keyFile) : undefined,
    });
    creds = grpc.credentials.createFromSecureContext(ctx);
  }
  const options: Record<string, string | number> = { "grpc.enable_retries": 0 };
  if (p.serverName) {
    options["grpc.ssl_target_name_override"] = p.serverName;
    options["grpc.default_authority"] = p.serverName;
  }
  const client = new AuthenticationClient(p.target, creds, options);
  const md = new grpc.Metadata();
  for (const [k, v] of p.metadata ?? []) md.add(k, v);
  try {
    const res = await new Promise<{ accessToken: string }>((resolve, reject) =>
      client.authenticate(
        { method: "header", credentials: {}, mode: p.mode ?? "managed", version: "0.9.0", agentNamespace: "argocd" },
        md,
        { deadline: Date.now() + (p.timeoutMs ?? 10_000) },
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    );
    const payload = JSON.parse(Buffer.from(res.accessToken.split(".")[1] ?? "", "base64url").toString("utf8")) as { sub: string };
    let clientID: string | undefined;
    try {
      clientID = (JSON.parse(payload.sub) as { clientID?: string }).clientID;
    } catch {
      /* sub is not JSON */
    }
    return { ok: true, sub: payload.sub, clientID };
  } catch (err) {
    const e = err as { code?: number; details?: string; message: string };
    return { ok: false, code: e.code !== undefined ? grpc.status[e.code] : "NONE", details: e.details ?? e.message };
  } finally {
    client.close();
  }
}

if (process.argv[1] === SELF) {
  const probe = JSON.parse(process.argv[2] ?? "{}") as Probe;
  const result = await (probe.action === "tcp" ? tcp(probe) : authenticate(probe));
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}
