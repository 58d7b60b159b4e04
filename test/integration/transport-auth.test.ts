// The principal's authentication and the event-stream transport, over loopback with
// in-process principals (so the tests can inject clocks, token lifetimes and hooks):
//
// - header identity as sidecars deliver it (Istio XFCC, Linkerd l5d-client-id, a custom
//   header), sent by a raw grpc-js client that sets the metadata itself, including
//   forged, repeated (HTTP/2 joins a repeated field into one value), missing and unusable values;
// - mTLS identity by subject and by URI SAN, and the handshake refusing foreign or
//   missing client certificates;
// - JWTs: a stream outlives its access token while the agent refreshes it; bad tokens
//   are refused on Subscribe;
// - heartbeats acknowledged, gzip on the wire, reconnect after a principal restart,
//   and keepalive enforcement (GOAWAY too_many_pings).
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Server as NetServer, type Socket } from "node:net";
import { credentials, Metadata, ServerCredentials, status, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { AuthenticationClient, type AuthResponse } from "../../src/proto/gen/auth.ts";
import { EventStreamClient } from "../../src/proto/gen/eventstream.ts";
import { configureLogging } from "../../src/observability/log.ts";
import { parseAuthSetting, type AuthMethod } from "../../src/auth/method.ts";
import { UserpassAuthentication } from "../../src/auth/userpass.ts";
import { bcryptHash } from "../../src/auth/bcrypt.ts";
import { generateSigningKey, JwtIssuer, TokenExpiredError, type SigningKey } from "../../src/auth/jwt-issuer.ts";
import { createPrincipalAuth } from "../../src/principal/principal-auth.ts";
import { DEFAULT_MIN_PING_INTERVAL_MS, startPrincipalServer, type PrincipalServer } from "../../src/principal/server.ts";
import { serverCredentials } from "../../src/transport/server-credentials.ts";
import { AGENT_EVENT_SOURCE, AgentConnection, type AgentConnectionOptions, type ConnectionStatus } from "../../src/agent/connection.ts";
import { EventTypes } from "../../src/events/event-types.ts";
import { heartbeatEvent } from "../../src/events/ack.ts";
import { fromWire, toWire } from "../../src/events/cloudevent.ts";
import { freePort } from "../support/processes.ts";
import { createTestPki, type TestPki } from "../support/pki.ts";

const NS = "argocd";
const MAX_MESSAGE = 209_715_200;
const ISTIO_AUTH = "header:x-forwarded-client-cert:^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)"; // the seed guide's, verbatim
const LINKERD_AUTH = "header:l5d-client-id:^([^.]+)\\..*"; // the seed guide's, verbatim
const CUSTOM_AUTH = "header:x-agent-id:^(.+)$";
const XFCC_PROXY = "By=spiffe://cluster.local/ns/argocd/sa/argocd-agent-principal;Hash=0a1b2c;Subject=\"\"";
const xfcc = (sa: string) => `${XFCC_PROXY};URI=spiffe://cluster.local/ns/agents/sa/${sa}`;

const logs: string[] = [];
configureLogging({ write: (line) => logs.push(line), defaultLevel: "info" });

let pki: TestPki;
let signingKey: SigningKey;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

before(async () => {
  [pki, signingKey] = await Promise.all([createTestPki(), generateSigningKey()]);
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  pki?.cleanup();
});

// ------------------------------------------------------------------ helpers

interface TestPrincipal {
  server: PrincipalServer;
  port: number;
  issuer: JwtIssuer;
  /** AuthFailureCode per refused Authenticate. */
  failures: string[];
  /** Peers that got GOAWAY too_many_pings. */
  violations: string[];
  close(): Promise<void>;
}

async function startTestPrincipal(o: {
  auth: string | AuthMethod;
  tls?: boolean;
  port?: number;
  keepaliveMinIntervalMs?: number;
  accessTokenLifetimeSeconds?: number;
}): Promise<TestPrincipal> {
  const method = typeof o.auth === "string" ? parseAuthSetting(o.auth) : o.auth;
  const issuer = new JwtIssuer({ key: signingKey, accessTokenLifetimeSeconds: o.accessTokenLifetimeSeconds });
  const failures: string[] = [];
  const violations: string[] = [];
  const server = await startPrincipalServer({
    host: "127.0.0.1",
    port: o.port ?? 0,
    credentials: o.tls
      ? serverCredentials(
          { cert: Buffer.from(pki.server.cert), key: Buffer.from(pki.server.key), clientCa: Buffer.from(pki.ca.cert) },
          { requireClientCert: true, minVersion: "TLSv1.3" },
        )
      : ServerCredentials.createInsecure(),
    auth: createPrincipalAuth({ method, issuer, namespace: NS, subjectMatch: false }),
    namespace: NS,
    protocolVersion: "0.9.0",
    maxMessageSize: MAX_MESSAGE,
    keepaliveMinIntervalMs: o.keepaliveMinIntervalMs ?? 0,
    onAuthFailure: (code) => failures.push(code),
    onPingViolation: (peer) => violations.push(peer),
  });
  let closed = false;
  const close = async () => {
    if (!closed) await server.close(2000);
    closed = true;
  };
  cleanups.push(close);
  return { server, port: server.port, issuer, failures, violations, close };
}

type AuthOutcome = { ok: true; agent: string; res: AuthResponse } | { ok: false; code: status; details: string };

function tlsClientCredentials(cert?: { cert: string; key: string }): ChannelCredentials {
  return credentials.createSsl(Buffer.from(pki.ca.cert), cert ? Buffer.from(cert.key) : null, cert ? Buffer.from(cert.cert) : null);
}

/** One Authenticate call from a raw grpc-js client that sets the metadata itself (as a sidecar would). */
async function rawAuthenticate(
  port: number,
  metadata: [string, string][],
  o: { creds?: ChannelCredentials; method?: string; credentials?: Record<string, string> } = {},
): Promise<AuthOutcome> {
  const client = new AuthenticationClient(`127.0.0.1:${port}`, o.creds ?? credentials.createInsecure(), {
    "grpc.ssl_target_name_override": "localhost",
  });
  const md = new Metadata();
  for (const [k, v] of metadata) md.add(k, v); // a key given twice is sent as two header fields
  try {
    return await new Promise<AuthOutcome>((resolve) =>
      client.authenticate(
        { method: o.method ?? "header", credentials: o.credentials ?? {}, mode: "managed", version: "0.9.0", agentNamespace: NS },
        md,
        { deadline: Date.now() + 10_000 },
        (err: ServiceError | null, res: AuthResponse) => {
          if (err) return resolve({ ok: false, code: err.code, details: err.details });
          const sub = JSON.parse(JSON.parse(Buffer.from(res.accessToken.split(".")[1], "base64url").toString()).sub);
          resolve({ ok: true, agent: sub.clientID, res });
        },
      ),
    );
  } finally {
    client.close();
  }
}

/** Runs `call` and returns the log lines it produced. */
async function logsOf<T>(call: () => Promise<T>): Promise<{ result: T; lines: string }> {
  const from = logs.length;
  const result = await call();
  await new Promise((r) => setImmediate(r));
  return { result, lines: logs.slice(from).join("\n") };
}

function assertAgent(out: AuthOutcome, agent: string): void {
  assert.equal(out.ok, true, `expected success, got ${JSON.stringify(out)}`);
  if (out.ok) assert.equal(out.agent, agent);
}

function assertRefused(out: AuthOutcome, lines: string, reason: RegExp): void {
  assert.deepEqual(out, { ok: false, code: status.UNAUTHENTICATED, details: "authentication failed" });
  assert.match(lines, reason, `principal log should give the reason; got:\n${lines}`);
}

/** Opens Subscribe with `token` (or none) and resolves with how it went: headers arrived, or the error. */
async function trySubscribe(port: number, token: string | undefined): Promise<{ established: boolean; code?: status; details?: string }> {
  const client = new EventStreamClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const md = new Metadata();
  if (token !== undefined) md.set("authorization", token);
  const stream = client.subscribe(md);
  try {
    return await new Promise((resolve) => {
      stream.on("metadata", () => resolve({ established: true }));
      stream.on("error", (err: ServiceError) => resolve({ established: false, code: err.code, details: err.details }));
      stream.on("data", () => {});
    });
  } finally {
    stream.cancel();
    client.close();
  }
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}; recent logs:\n${logs.slice(-25).join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// userpass over plaintext: the simplest pairing for in-process agents (no header injection needed).
const AGENT_SECRET = "agent-secret";
let userpassMethod: UserpassAuthentication | undefined;
async function userpass(): Promise<UserpassAuthentication> {
  userpassMethod ??= new UserpassAuthentication(new Map([["agent-1", await bcryptHash(AGENT_SECRET, 4)]]));
  return userpassMethod;
}

interface TestAgent {
  conn: AgentConnection;
  statuses: ConnectionStatus[];
  stop(): Promise<void>;
}

function startTestAgent(t: TestContext, port: number, o: Partial<AgentConnectionOptions> = {}): TestAgent {
  const statuses: ConnectionStatus[] = [];
  const conn = new AgentConnection({
    address: "127.0.0.1",
    port,
    credentials: credentials.createInsecure(),
    creds: { method: "userpass", credentials: { clientid: "agent-1", clientsecret: AGENT_SECRET } },
    mode: "managed",
    namespace: NS,
    protocolVersion: "0.9.0",
    maxMessageSize: MAX_MESSAGE,
    keepAlivePingIntervalMs: 0,
    compression: false,
    heartbeatIntervalMs: 0,
    handler: async () => {},
    backoff: { baseMs: 100, capMs: 500, factor: 2 },
    onStatus: (s) => statuses.push(s),
    ...o,
  });
  const controller = new AbortController();
  const done = conn.run(controller.signal);
  const stop = async () => {
    controller.abort();
    await done;
  };
  t.after(stop);
  return { conn, statuses, stop };
}

const acksReceived = (conn: AgentConnection) => conn.session?.counters.received[EventTypes.processed] ?? 0;

// ------------------------------------------------------------------ header identity

describe("header auth: identity from what the sidecar injected", () => {
  let istio: TestPrincipal;
  let linkerd: TestPrincipal;
  let custom: TestPrincipal;
  before(async () => {
    [istio, linkerd, custom] = await Promise.all([ISTIO_AUTH, LINKERD_AUTH, CUSTOM_AUTH].map((auth) => startTestPrincipal({ auth })));
  });

  test("Istio XFCC with a SPIFFE URI (seed regex) → the service account name", async () => {
    assertAgent(await rawAuthenticate(istio.port, [["x-forwarded-client-cert", xfcc("agent-1")]]), "agent-1");
  });

  test("Linkerd l5d-client-id (seed regex) → the first label", async () => {
    assertAgent(await rawAuthenticate(linkerd.port, [["l5d-client-id", "agent-2.agents.serviceaccount.identity.linkerd.cluster.local"]]), "agent-2");
  });

  test("custom header; the header name is matched case-insensitively", async () => {
    assertAgent(await rawAuthenticate(custom.port, [["X-Agent-Id", "agent-3"]]), "agent-3");
  });

  test("XFCC where the caller forged an element and the proxy appended the real one → the appended identity", async () => {
    const forged = "URI=spiffe://cluster.local/ns/agents/sa/victim";
    assertAgent(await rawAuthenticate(istio.port, [["x-forwarded-client-cert", `${forged},${xfcc("agent-1")}`]]), "agent-1");
    // Also with a regex that is not anchored with a greedy ^.* (which alone would pick the forged first URI).
    const unanchored = await startTestPrincipal({ auth: "header:x-forwarded-client-cert:URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)" });
    assertAgent(await rawAuthenticate(unanchored.port, [["x-forwarded-client-cert", `${forged},${xfcc("agent-1")}`]]), "agent-1");
    // A forged element alone before a proxy element without URI gives nothing.
    const { result, lines } = await logsOf(() => rawAuthenticate(istio.port, [["x-forwarded-client-cert", `${forged},${XFCC_PROXY}`]]));
    assertRefused(result, lines, /does not match the extraction regex/);
  });

  // A header sent twice (two HTTP/2 header fields) reaches the principal as ONE value,
  // joined with ", " (RFC 9110; Node's HTTP/2 layer does it), so a repeat cannot be told
  // from a list in one field.
  test("a header sent as two fields arrives joined; two identities in it → UNAUTHENTICATED", async () => {
    for (const [p, key, a, b] of [
      [custom, "x-agent-id", "agent-1", "agent-2"],
      [linkerd, "l5d-client-id", "agent-1.agents.serviceaccount.identity.linkerd.cluster.local", "agent-2.agents.serviceaccount.identity.linkerd.cluster.local"],
    ] as const) {
      const { result, lines } = await logsOf(() => rawAuthenticate(p.port, [[key, a], [key, b]]));
      assertRefused(result, lines, /appears more than once \(joined into one value, 2 of its comma-separated parts yield an identity\)/);
    }
  });

  test("XFCC sent as two fields arrives as one element list: the last element wins", async () => {
    const forged = "URI=spiffe://cluster.local/ns/agents/sa/victim";
    // The caller's field first, the proxy's appended after it: the proxy's identity.
    assertAgent(await rawAuthenticate(istio.port, [["x-forwarded-client-cert", forged], ["x-forwarded-client-cert", xfcc("agent-1")]]), "agent-1");
    // Whatever comes last wins, even from a second field: this is why only the sidecar,
    // which appends its own element last (APPEND_FORWARD) or replaces the header, may reach the port.
    assertAgent(await rawAuthenticate(istio.port, [["x-forwarded-client-cert", xfcc("agent-1")], ["x-forwarded-client-cert", forged]]), "victim");
    // Two fields behave exactly like one field holding the joined list.
    assertAgent(await rawAuthenticate(istio.port, [["x-forwarded-client-cert", `${xfcc("agent-1")}, ${forged}`]]), "victim");
  });

  test("missing header → UNAUTHENTICATED", async () => {
    const { result, lines } = await logsOf(() => rawAuthenticate(istio.port, [["x-other", "agent-1"]]));
    assertRefused(result, lines, /header 'x-forwarded-client-cert' not found in request/);
  });

  test("value that does not match → UNAUTHENTICATED", async () => {
    const { result, lines } = await logsOf(() => rawAuthenticate(istio.port, [["x-forwarded-client-cert", XFCC_PROXY]]));
    assertRefused(result, lines, /does not match the extraction regex pattern/);
  });

  test("extracted ID that is not a DNS label → UNAUTHENTICATED", async () => {
    for (const bad of ["Agent_1", "agent-1.agents", "-agent", "a".repeat(64)]) {
      const { result, lines } = await logsOf(() => rawAuthenticate(custom.port, [["x-agent-id", bad]]));
      assertRefused(result, lines, /invalid agent ID/);
    }
  });

  test("extracted ID equal to the principal's namespace → UNAUTHENTICATED", async () => {
    const before = custom.failures.length;
    const { result, lines } = await logsOf(() => rawAuthenticate(custom.port, [["x-agent-id", NS]]));
    assertRefused(result, lines, /equals the principal's own namespace/);
    assert.deepEqual(custom.failures.slice(before), ["own-namespace"]);
  });

  test("the agent's own request cannot choose the method: userpass credentials to a header principal are refused", async () => {
    const { result, lines } = await logsOf(() =>
      rawAuthenticate(custom.port, [["x-agent-id", "agent-1"]], { method: "userpass", credentials: { clientid: "agent-1", clientsecret: "x" } }),
    );
    assertRefused(result, lines, /the principal accepts "header"|the principal accepts \\"header\\"/);
  });

  test("the token from header auth opens Subscribe", async () => {
    const out = await rawAuthenticate(custom.port, [["x-agent-id", "agent-4"]]);
    assert.ok(out.ok);
    assert.deepEqual(await trySubscribe(custom.port, out.res.accessToken), { established: true });
  });
});

// ------------------------------------------------------------------ mTLS identity

describe("mtls auth: identity from the verified client certificate", () => {
  let bySubject: TestPrincipal;
  let byUri: TestPrincipal;
  before(async () => {
    [bySubject, byUri] = await Promise.all([
      startTestPrincipal({ auth: "mtls:subject:CN=([^,]+)", tls: true }),
      startTestPrincipal({ auth: "mtls:uri:^spiffe://[^/]+/ns/[^/]+/sa/([^/]+)$", tls: true }),
    ]);
  });

  test("by subject: CN=agent-5,O=edge → agent-5", async () => {
    const cert = await pki.agent("agent-5", { subjectSuffix: "O=edge" });
    assertAgent(await rawAuthenticate(bySubject.port, [], { method: "mtls", creds: tlsClientCredentials(cert) }), "agent-5");
  });

  test("by URI SAN: the SPIFFE service account, whatever the CN", async () => {
    const cert = await pki.agent("not-the-name", { uris: ["https://example.com/x", "spiffe://cluster.local/ns/agents/sa/agent-6"] });
    assertAgent(await rawAuthenticate(byUri.port, [], { method: "mtls", creds: tlsClientCredentials(cert) }), "agent-6");
    const noUri = await pki.agent("agent-6");
    const { result, lines } = await logsOf(() => rawAuthenticate(byUri.port, [], { method: "mtls", creds: tlsClientCredentials(noUri) }));
    assertRefused(result, lines, /no URI SANs found/);
  });

  test("a certificate from another CA: the handshake is refused, Authenticate never runs", async () => {
    const rogue = await pki.rogueAgent("agent-5");
    const before = bySubject.failures.length;
    const out = await rawAuthenticate(bySubject.port, [], { method: "mtls", creds: tlsClientCredentials(rogue) });
    assert.equal(out.ok, false);
    assert.equal(!out.ok && out.code, status.UNAVAILABLE, JSON.stringify(out));
    assert.equal(bySubject.failures.length, before);
  });

  test("no client certificate: refused", async () => {
    const before = bySubject.failures.length;
    const out = await rawAuthenticate(bySubject.port, [], { method: "mtls", creds: tlsClientCredentials() });
    assert.equal(out.ok, false);
    assert.equal(!out.ok && out.code, status.UNAVAILABLE, JSON.stringify(out));
    assert.equal(bySubject.failures.length, before);
  });
});

// ------------------------------------------------------------------ JWT

describe("JWT on the event stream", () => {
  test("a stream outlives its access token; the agent refreshes the token meanwhile", async (t) => {
    const principal = await startTestPrincipal({ auth: await userpass(), accessTokenLifetimeSeconds: 3 });
    const agent = startTestAgent(t, principal.port, { heartbeatIntervalMs: 300 });
    await waitFor("agent connected", () => agent.conn.status().state === "connected");
    const first = agent.conn.accessToken()!;
    await waitFor("a refreshed access token", () => agent.conn.accessToken() !== first, 5000);
    // Wait until the first token has certainly expired, then check the stream is still the same one and alive.
    await sleep(Math.max(0, (JSON.parse(Buffer.from(first.split(".")[1], "base64url").toString()).exp + 1) * 1000 - Date.now()));
    await assert.rejects(principal.issuer.validateAccessToken(first), TokenExpiredError);
    const acks = acksReceived(agent.conn);
    await waitFor("heartbeat acks after the first token expired", () => acksReceived(agent.conn) >= acks + 2, 5000);
    assert.equal(agent.conn.connects, 1, "still the first stream");
    assert.equal(agent.conn.status().state, "connected");
    assert.equal(principal.server.registry.get("agent-1")?.connection?.connectionId, 1);
    assert.ok((await principal.issuer.validateAccessToken(agent.conn.accessToken()!)).subject.clientID === "agent-1");
  });

  test("Subscribe with an expired, garbage, refresh or missing token → UNAUTHENTICATED", async () => {
    const principal = await startTestPrincipal({ auth: CUSTOM_AUTH });
    const past = new JwtIssuer({ key: signingKey, now: () => Date.now() - 10 * 60_000 });
    const other = new JwtIssuer({ key: await generateSigningKey() });
    const refused = { established: false, code: status.UNAUTHENTICATED, details: "invalid authentication data" };
    assert.deepEqual(await trySubscribe(principal.port, await past.issueAccessToken("agent-1", "managed")), refused, "expired");
    assert.deepEqual(await trySubscribe(principal.port, "garbage.not.ajwt"), refused, "garbage");
    assert.deepEqual(await trySubscribe(principal.port, await other.issueAccessToken("agent-1", "managed")), refused, "foreign key");
    assert.deepEqual(await trySubscribe(principal.port, await principal.issuer.issueRefreshToken("agent-1", "managed")), refused, "refresh token");
    assert.deepEqual(await trySubscribe(principal.port, `Bearer ${await principal.issuer.issueAccessToken("agent-1", "managed")}`), refused, "Bearer prefix");
    assert.deepEqual(await trySubscribe(principal.port, undefined), refused, "missing");
    assert.deepEqual(await trySubscribe(principal.port, await principal.issuer.issueAccessToken("agent-1", "managed")), { established: true }, "valid");
  });
});

// ------------------------------------------------------------------ event stream transport

/**
 * A TCP relay that reads the client's HTTP/2 frames and counts gRPC messages by
 * their compressed flag (the first byte of each length-prefixed message).
 */
async function startFrameTap(targetPort: number): Promise<{ port: number; compressed: number; plain: number; close(): Promise<void> }> {
  const tally = { compressed: 0, plain: 0 };
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    // Per stream: bytes still expected for the current message, and a partial 5-byte prefix.
    const streams = new Map<number, { remaining: number; prefix: Buffer }>();
    client.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!prefaceSeen) {
        if (buf.length < 24) return;
        buf = buf.subarray(24);
        prefaceSeen = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3];
        const flags = buf[4];
        const streamId = buf.readUInt32BE(5) & 0x7fffffff;
        let payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type !== 0) continue;
        if (flags & 0x8) payload = payload.subarray(1, payload.length - payload[0]);
        const s = streams.get(streamId) ?? { remaining: 0, prefix: Buffer.alloc(0) };
        streams.set(streamId, s);
        while (payload.length > 0) {
          if (s.remaining > 0) {
            const n = Math.min(s.remaining, payload.length);
            s.remaining -= n;
            payload = payload.subarray(n);
            continue;
          }
          const take = Math.min(5 - s.prefix.length, payload.length);
          s.prefix = Buffer.concat([s.prefix, payload.subarray(0, take)]);
          payload = payload.subarray(take);
          if (s.prefix.length === 5) {
            if (s.prefix[0] === 1) tally.compressed++;
            else tally.plain++;
            s.remaining = s.prefix.readUInt32BE(1);
            s.prefix = Buffer.alloc(0);
          }
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const tap = {
    port: (server.address() as { port: number }).port,
    get compressed() {
      return tally.compressed;
    },
    get plain() {
      return tally.plain;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  cleanups.push(tap.close);
  return tap;
}

describe("event stream transport", () => {
  test("heartbeats are acknowledged (writer and session counters on both sides)", async (t) => {
    const principal = await startTestPrincipal({ auth: await userpass() });
    const agent = startTestAgent(t, principal.port, { heartbeatIntervalMs: 200 });
    await waitFor("3 heartbeat acks at the agent", () => acksReceived(agent.conn) >= 3, 10_000);
    const session = principal.server.sessions.get("agent-1")!;
    assert.ok(session.counters.heartbeats >= 3, `principal saw ${session.counters.heartbeats} heartbeats`);
    assert.ok(agent.conn.writer.stats().fireAndForgetSent >= 3, "agent sent heartbeats fire-and-forget");
    const principalWriter = principal.server.registry.get("agent-1")!.writer.stats();
    assert.ok(principalWriter.fireAndForgetSent >= 3, "principal sent acks fire-and-forget");
    // Heartbeats and their acks are never tracked for re-sending.
    assert.equal(agent.conn.writer.stats().sent, 0);
    assert.deepEqual(agent.conn.writer.backlog(), { inFlight: 0, unsent: 0, fireAndForget: 0 });
  });

  test("--enable-compression: every agent message is gzip-compressed on the wire and still understood", async (t) => {
    const principal = await startTestPrincipal({ auth: await userpass() });
    const tap = await startFrameTap(principal.port);
    const agent = startTestAgent(t, tap.port, { heartbeatIntervalMs: 200, compression: true });
    await waitFor("3 heartbeat acks through the tap", () => acksReceived(agent.conn) >= 3, 10_000);
    assert.ok(principal.server.sessions.get("agent-1")!.counters.heartbeats >= 3);
    assert.ok(tap.compressed >= 5, `compressed messages seen: ${tap.compressed} (Authenticate, Version, heartbeats)`);
    assert.equal(tap.plain, 0, "no uncompressed message from the agent");
  });

  test("the agent reconnects after the principal restarts on the same port", async (t) => {
    const port = await freePort();
    const first = await startTestPrincipal({ auth: await userpass(), port });
    const agent = startTestAgent(t, port, { heartbeatIntervalMs: 200 });
    await waitFor("first connection", () => agent.conn.connects === 1 && agent.conn.status().state === "connected");
    await first.close();
    await waitFor("agent notices", () => agent.conn.status().state !== "connected", 5000);
    const second = await startTestPrincipal({ auth: await userpass(), port });
    await waitFor("second connection", () => agent.conn.connects === 2 && agent.conn.status().state === "connected", 15_000);
    await waitFor("the new principal sees the agent", () => second.server.registry.connected().some((r) => r.agent === "agent-1"));
    const acks = acksReceived(agent.conn);
    await waitFor("heartbeats acked on the new stream", () => acksReceived(agent.conn) >= acks + 2, 5000);
    assert.ok(agent.statuses.some((s) => s.state === "disconnected"));
  });
});

// ------------------------------------------------------------------ keepalive

describe("keepalive enforcement", () => {
  test("a client pinging every 1 s against --keepalive-min-interval 1m gets GOAWAY too_many_pings", async (t) => {
    const principal = await startTestPrincipal({ auth: await userpass(), keepaliveMinIntervalMs: 60_000 });
    const from = logs.length;
    const agent = startTestAgent(t, principal.port, { keepAlivePingIntervalMs: 1000 });
    await waitFor("agent connected", () => agent.conn.status().state === "connected");
    await waitFor("a ping violation", () => principal.violations.length > 0, 10_000);
    assert.match(logs.slice(from).join("\n"), /too_many_pings/);
    // The connection is dropped; the agent sees it and comes back.
    await waitFor("the agent's stream dropped", () => agent.statuses.some((s) => s.state === "disconnected"), 5000);
    await waitFor("reconnected", () => agent.conn.connects >= 2, 10_000);
  });

  test("a client pinging slower than the minimum passes (1.5 s vs 1 s); 30 s pings pass the default", async (t) => {
    assert.ok(DEFAULT_MIN_PING_INTERVAL_MS <= 30_000, "the default minimum must admit 30 s keepalive pings (mesh guide)");
    const principal = await startTestPrincipal({ auth: await userpass(), keepaliveMinIntervalMs: 1000 });
    const agent = startTestAgent(t, principal.port, { keepAlivePingIntervalMs: 1500 });
    await waitFor("agent connected", () => agent.conn.status().state === "connected");
    await sleep(6000); // ≥ 3 pings: enough to have struck out if they counted
    assert.deepEqual(principal.violations, []);
    assert.equal(agent.conn.connects, 1);
    assert.equal(agent.conn.status().state, "connected");
  });
});

// ------------------------------------------------------------------ replaced connections

describe("a second connection of the same agent", () => {
  test("replaces the first, and acks flow on the new stream", async () => {
    const principal = await startTestPrincipal({ auth: CUSTOM_AUTH });
    const token = await principal.issuer.issueAccessToken("agent-1", "managed");
    const open = () => {
      const client = new EventStreamClient(`127.0.0.1:${principal.port}`, credentials.createInsecure());
      const md = new Metadata();
      md.set("authorization", token);
      const stream = client.subscribe(md);
      const received: string[] = [];
      const state = { ended: false };
      stream.on("data", (msg: { event?: unknown }) => {
        const r = fromWire(msg.event as never);
        if (r.ok) received.push(r.value.event.eventId);
      });
      stream.on("end", () => (state.ended = true));
      stream.on("error", () => (state.ended = true));
      cleanups.push(() => {
        stream.cancel();
        client.close();
      });
      return { stream, received, state, established: new Promise((r) => stream.once("metadata", r)) };
    };
    const first = open();
    await first.established;
    const second = open();
    await second.established;
    await waitFor("the first stream ended by the principal", () => first.state.ended, 5000);
    await sleep(100); // let the old session wind down completely
    const ping = heartbeatEvent(AGENT_EVENT_SOURCE);
    second.stream.write({ event: toWire(ping) });
    await waitFor("the ack of a heartbeat sent on the new stream", () => second.received.includes(ping.eventId), 5000);
    assert.equal(principal.server.registry.get("agent-1")?.reconnects, 1);
  });
});
