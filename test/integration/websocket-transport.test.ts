// The WebSocket transport (--enable-websocket, src/transport/websocket/) with in-process
// principals and agents over real loopback sockets, no intermediary:
// - mTLS through wss: the verified client certificate of the outer TLS connection is the
//   identity the principal authenticates, and its per-call CN check sees it too; a
//   certificate from another CA or none is refused at the handshake;
// - a principal with websocket on still serves plain gRPC agents (TLS h2 and h2c);
// - header auth through the bridge: repeated identity fields on the upgrade reach the
//   auth layer exactly as the same fields over HTTP/2 do, and nothing a client sends
//   after the upgrade can add a header.
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { credentials, Metadata, ServerCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { configureLogging } from "../../src/observability/log.ts";
import { parseAuthSetting } from "../../src/auth/method.ts";
import { UserpassAuthentication } from "../../src/auth/userpass.ts";
import { bcryptHash } from "../../src/auth/bcrypt.ts";
import { generateSigningKey, JwtIssuer, type SigningKey } from "../../src/auth/jwt-issuer.ts";
import { createPrincipalAuth } from "../../src/principal/principal-auth.ts";
import { startPrincipalServer } from "../../src/principal/server.ts";
import { serverCredentials } from "../../src/transport/server-credentials.ts";
import { AgentConnection, type AgentConnectionOptions, type ConnectionStatus } from "../../src/agent/connection.ts";
import { AuthenticationClient, type AuthResponse } from "../../src/proto/gen/auth.ts";
import { EventStreamClient } from "../../src/proto/gen/eventstream.ts";
import type { ClientTlsOptions } from "../../src/transport/client-credentials.ts";
import { startWebSocketProxy, type WebSocketProxy } from "../../src/transport/websocket/agent-proxy.ts";
import { dataFrame, END_OF_STREAM, metadataFrame } from "../../src/transport/websocket/frames.ts";
import { encodeHeaderBlock } from "../../src/transport/websocket/header-block.ts";
import { createTestPki, type PemFiles, type TestPki } from "../support/pki.ts";
import { agentOfAuthResponse, AUTHENTICATE, authRequest, describeMessages, rawWsCall } from "../support/grpc-ws-client.ts";

const NS = "argocd";
const ISTIO_AUTH = "header:x-forwarded-client-cert:^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)";
const xfcc = (sa: string) => `By=spiffe://cluster.local/ns/argocd/sa/argocd-agent-principal;Hash=0a1b;URI=spiffe://cluster.local/ns/agents/sa/${sa}`;
const FORGED = "URI=spiffe://cluster.local/ns/agents/sa/victim";

const logs: string[] = [];
configureLogging({ write: (line) => logs.push(line), defaultLevel: "info" });
let pki: TestPki;
let key: SigningKey;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
before(async () => {
  [pki, key] = await Promise.all([createTestPki(), generateSigningKey()]);
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  pki?.cleanup();
});

async function startWsPrincipal(o: { auth: string | UserpassAuthentication; tls?: boolean; subjectMatch?: boolean }) {
  const method = typeof o.auth === "string" ? parseAuthSetting(o.auth) : o.auth;
  const failures: string[] = [];
  const server = await startPrincipalServer({
    host: "127.0.0.1",
    port: 0,
    credentials: o.tls
      ? serverCredentials({ cert: Buffer.from(pki.server.cert), key: Buffer.from(pki.server.key), clientCa: Buffer.from(pki.ca.cert) }, { requireClientCert: true })
      : ServerCredentials.createInsecure(),
    auth: createPrincipalAuth({ method, issuer: new JwtIssuer({ key }), namespace: NS, subjectMatch: o.subjectMatch ?? false }),
    namespace: NS,
    protocolVersion: "0.9.0",
    maxMessageSize: 209_715_200,
    keepaliveMinIntervalMs: 0,
    websocket: true,
    onAuthFailure: (code) => failures.push(code),
  });
  cleanups.push(() => server.close(2000));
  return { server, port: server.port, failures };
}

const tlsTo = (cert?: PemFiles): ClientTlsOptions => ({
  plaintext: false,
  insecureSkipVerify: false,
  rootCa: Buffer.from(pki.ca.cert),
  clientCert: cert && Buffer.from(cert.cert),
  clientKey: cert && Buffer.from(cert.key),
});

async function proxyTo(port: number, tls: ClientTlsOptions): Promise<WebSocketProxy> {
  const proxy = await startWebSocketProxy({ address: "localhost", port, tls });
  cleanups.push(() => proxy.close());
  return proxy;
}

async function startAgent(t: TestContext, port: number, o: Partial<AgentConnectionOptions> & { tls?: ClientTlsOptions; websocket: boolean }) {
  const statuses: ConnectionStatus[] = [];
  const tls = o.tls ?? { plaintext: true, insecureSkipVerify: false };
  const proxy = o.websocket ? await proxyTo(port, tls) : undefined;
  const conn = new AgentConnection({
    address: "localhost",
    port,
    credentials: proxy || tls.plaintext
      ? credentials.createInsecure()
      : credentials.createSsl(tls.rootCa!, tls.clientKey ?? null, tls.clientCert ?? null),
    via: proxy && { target: proxy.target, channelOptions: proxy.channelOptions },
    creds: { method: "mtls", credentials: {} },
    mode: "managed",
    namespace: NS,
    protocolVersion: "0.9.0",
    maxMessageSize: 209_715_200,
    keepAlivePingIntervalMs: 0,
    compression: false,
    heartbeatIntervalMs: 200,
    handler: async () => {},
    backoff: { baseMs: 100, capMs: 500, factor: 2 },
    onStatus: (s) => statuses.push(s),
    ...o,
  });
  const controller = new AbortController();
  const done = conn.run(controller.signal);
  t.after(async () => {
    controller.abort();
    await done;
  });
  return { conn, statuses };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; recent logs:\n${logs.slice(-20).join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function unaryAuthenticate(client: AuthenticationClient, method: string, md = new Metadata()): Promise<AuthResponse> {
  return new Promise((resolve, reject) =>
    client.authenticate({ method, credentials: {}, mode: "managed", version: "0.9.0", agentNamespace: NS }, md, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

/** Opens Subscribe and says whether the principal accepted it. */
function subscribeOutcome(client: EventStreamClient, token: string): Promise<{ established: boolean; code?: status; details?: string }> {
  const md = new Metadata();
  md.set("authorization", token);
  const stream = client.subscribe(md);
  return new Promise((resolve) => {
    stream.on("metadata", () => {
      resolve({ established: true });
      stream.cancel();
    });
    stream.on("error", (err: ServiceError) => resolve({ established: false, code: err.code, details: err.details }));
    stream.on("data", () => {});
  });
}

describe("mTLS through wss, no intermediary", () => {
  let principal: Awaited<ReturnType<typeof startWsPrincipal>>;
  before(async () => {
    principal = await startWsPrincipal({ auth: "mtls:subject:CN=([^,]+)", tls: true, subjectMatch: true });
  });

  test("the outer connection's client certificate authenticates the agent; the stream runs, compressed too", async (t) => {
    const agent = await startAgent(t, principal.port, { websocket: true, tls: tlsTo(await pki.agent("agent-1")), compression: true });
    await waitFor("agent-1 connected over wss", () => agent.conn.status().state === "connected");
    assert.equal((agent.conn.status() as { agent: string }).agent, "agent-1");
    // The agent's heartbeats go out as (gzip-compressed) messages and the principal's acks come back.
    const received = () => Object.values(agent.conn.session?.counters.received ?? {}).reduce((a, b) => a + b, 0);
    await waitFor("heartbeats acknowledged through the WebSocket", () => received() >= 3);
    assert.ok(principal.server.registry.connected().some((r) => r.agent === "agent-1"), "the principal's registry has agent-1");
    assert.match(logs.join("\n"), /agent authenticated.*agent=agent-1 mode=managed method=mtls/);
  });

  test("a certificate from another CA, or none, is refused at the handshake", async (t) => {
    for (const cert of [await pki.rogueAgent("agent-1"), undefined]) {
      const before = principal.failures.length;
      const agent = await startAgent(t, principal.port, { websocket: true, tls: tlsTo(cert) });
      await waitFor("a refused attempt", () => agent.statuses.some((s) => s.state === "disconnected"));
      const refused = agent.statuses.find((s) => s.state === "disconnected") as { reason: string };
      assert.match(refused.reason, /^UNAVAILABLE: transport: WebSocket to wss:\/\/localhost:\d+\/authapi\.Authentication\/Authenticate: /);
      assert.equal(agent.conn.status().state === "connected", false);
      assert.equal(principal.failures.length, before, "refused before any call reached the auth layer");
    }
  });

  test("the per-call CN check sees the bridged certificate: agent-1's token on agent-2's connection is refused", async () => {
    const [one, two] = await Promise.all([pki.agent("agent-1"), pki.agent("agent-2")]);
    const viaOne = await proxyTo(principal.port, tlsTo(one));
    const viaTwo = await proxyTo(principal.port, tlsTo(two));
    const insecure = credentials.createInsecure();
    const auth = new AuthenticationClient(viaOne.target, insecure, viaOne.channelOptions);
    const token = (await unaryAuthenticate(auth, "mtls")).accessToken;
    auth.close();
    const asTwo = new EventStreamClient(viaTwo.target, insecure, viaTwo.channelOptions);
    assert.deepEqual(await subscribeOutcome(asTwo, token), { established: false, code: status.UNAUTHENTICATED, details: "invalid authentication data" });
    asTwo.close();
    assert.match(logs.join("\n"), /subscribe refused.*client certificate CN \\?"agent-2\\?" does not match agent \\?"agent-1\\?"/);
    const asOne = new EventStreamClient(viaOne.target, insecure, viaOne.channelOptions);
    assert.deepEqual(await subscribeOutcome(asOne, token), { established: true });
    asOne.close();
  });
});

describe("native gRPC on a websocket-enabled principal", () => {
  test("a plain agent connects over TLS (ALPN h2) and over plaintext (h2c) on the same port as WebSocket agents", async (t) => {
    const tlsPrincipal = await startWsPrincipal({ auth: "mtls:subject:CN=([^,]+)", tls: true });
    const plain = await startAgent(t, tlsPrincipal.port, { websocket: false, tls: tlsTo(await pki.agent("agent-3")) });
    const ws = await startAgent(t, tlsPrincipal.port, { websocket: true, tls: tlsTo(await pki.agent("agent-4")) });
    await waitFor("both agents connected", () => plain.conn.status().state === "connected" && ws.conn.status().state === "connected");

    const users = new UserpassAuthentication(new Map([["agent-5", await bcryptHash("s3cret", 4)]]));
    const h2cPrincipal = await startWsPrincipal({ auth: users });
    const h2c = await startAgent(t, h2cPrincipal.port, { websocket: false, creds: { method: "userpass", credentials: { clientid: "agent-5", clientsecret: "s3cret" } } });
    await waitFor("the h2c agent connected", () => h2c.conn.status().state === "connected");
  });
});

describe("header auth through the bridge", () => {
  let principal: Awaited<ReturnType<typeof startWsPrincipal>>;
  before(async () => {
    principal = await startWsPrincipal({ auth: ISTIO_AUTH });
  });
  const url = () => `ws://127.0.0.1:${principal.port}${AUTHENTICATE}`;
  const wsAgent = async (fields: string[]) => {
    const r = await rawWsCall(url(), { headers: { "x-forwarded-client-cert": fields }, send: [dataFrame(authRequest("header")), END_OF_STREAM] });
    const data = describeMessages(r).find((m) => "data" in m) as { data: Buffer } | undefined;
    return data ? agentOfAuthResponse(data.data) : `no identity (close ${r.closeCode})`;
  };
  const nativeAgent = async (fields: string[]) => {
    const md = new Metadata();
    for (const f of fields) md.add("x-forwarded-client-cert", f); // two HTTP/2 header fields
    const client = new AuthenticationClient(`127.0.0.1:${principal.port}`, credentials.createInsecure());
    try {
      const res = await unaryAuthenticate(client, "header", md);
      return JSON.parse(JSON.parse(Buffer.from(res.accessToken.split(".")[1], "base64url").toString()).sub).clientID as string;
    } finally {
      client.close();
    }
  };

  test("repeated identity fields on the upgrade reach the auth layer as the same fields over HTTP/2 do", async () => {
    for (const fields of [[FORGED, xfcc("agent-1")], [xfcc("agent-1"), FORGED], [xfcc("agent-7")]]) {
      const [overWs, overH2] = [await wsAgent(fields), await nativeAgent(fields)];
      assert.equal(overWs, overH2, `fields ${JSON.stringify(fields)}`);
    }
    assert.equal(await wsAgent([FORGED, xfcc("agent-1")]), "agent-1", "the element the sidecar appended last wins");
  });

  test("a header cannot be slipped in after the upgrade: a metadata frame from the client ends the call", async () => {
    const authenticated = () => logs.filter((l) => /msg="agent authenticated"/.test(l)).length;
    const before = authenticated();
    const smuggled = metadataFrame(encodeHeaderBlock({ "x-forwarded-client-cert": xfcc("agent-1") }));
    for (const send of [[smuggled, dataFrame(authRequest("header")), END_OF_STREAM], [dataFrame(authRequest("header")), smuggled, END_OF_STREAM]]) {
      const r = await rawWsCall(url(), { send });
      assert.equal(r.closeCode, 1002, JSON.stringify(r));
      assert.match(r.closeReason ?? "", /metadata frame from the client \(only the end-of-stream marker is allowed\)/);
      assert.equal(describeMessages(r).some((m) => "data" in m), false, "no token came back");
    }
    await new Promise((r) => setTimeout(r, 200));
    // The request may already have reached Authenticate (without the smuggled header): it found no identity.
    assert.equal(authenticated(), before, "no agent was authenticated");
    assert.ok(principal.failures.every((f) => f === "identity"), JSON.stringify(principal.failures));
    assert.match(logs.join("\n"), /closing a WebSocket call that broke the grpc-ws framing/);
  });
});
