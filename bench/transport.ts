#!/usr/bin/env node
/**
 * Transport throughput and latency on one event stream, next to a plain grpc-js
 * bidi echo measured in the same run (same machine state, same message size):
 *
 * - events/s: an in-process agent (AgentConnection) sends N application
 *   spec-update events (distinct resources, so none waits for another's ack;
 *   at most WINDOW outstanding, topped up as acks arrive) to an in-process
 *   principal over loopback plaintext; timed from queueing the first to the
 *   last ack arriving.
 *   Baseline: the client writes N messages of the same encoded size on one bidi
 *   stream, the server echoes each; timed until the last echo arrives.
 * - heartbeat round trip: one ping at a time, from `writer.add` (how the agent
 *   sends heartbeats) to the ack arriving at the agent; p50/p99.
 *   Baseline: one message at a time, write → echo.
 *
 * Figures, never pass/fail. Bounded: a few seconds per section.
 * Usage: npm run bench:transport [-- --events 20000 --window 1000 --pings 2000]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import {
  credentials,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ClientDuplexStream,
  type ServerDuplexStream,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import { configureLogging } from "../src/observability/log.ts";
import { UserpassAuthentication } from "../src/auth/userpass.ts";
import { bcryptHash } from "../src/auth/bcrypt.ts";
import { generateSigningKey, JwtIssuer } from "../src/auth/jwt-issuer.ts";
import { createPrincipalAuth } from "../src/principal/principal-auth.ts";
import { startPrincipalServer } from "../src/principal/server.ts";
import { AGENT_EVENT_SOURCE, AgentConnection } from "../src/agent/connection.ts";
import { heartbeatEvent } from "../src/events/ack.ts";
import { objectEvent, toWire, type AgentEvent } from "../src/events/cloudevent.ts";
import { EventTargets, EventTypes } from "../src/events/event-types.ts";
import { Event } from "../src/proto/gen/eventstream.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const EVENTS = arg("events", 20_000);
/**
 * Events outstanding at once. A writer re-sends anything unacknowledged after
 * 5–10 s, so an unbounded burst measures the retry cascade instead of the stream.
 */
const WINDOW = arg("window", 1_000);
const PINGS = arg("pings", 2_000);
const DEADLINE_MS = 60_000;
const MAX = 209_715_200;

configureLogging({ defaultLevel: "error" });

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const round = (x: number, d = 3) => +x.toFixed(d);

/**
 * Waits without polling: `poke()` (called on every received message) re-checks
 * the condition, so the measurement loop does not compete with the I/O it measures.
 */
function waiter(): { poke(): void; until(what: string, cond: () => boolean): Promise<void> } {
  let check: (() => void) | undefined;
  return {
    poke: () => check?.(),
    until: (what, cond) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`bench: timed out waiting for ${what}`)), DEADLINE_MS);
        check = () => {
          if (!cond()) return;
          clearTimeout(timer);
          check = undefined;
          resolve();
        };
        check();
      }),
  };
}

/** An Application of realistic size (a few hundred bytes of JSON). */
function appEvent(i: number): AgentEvent {
  const app = {
    metadata: { name: `app-${i}`, namespace: "agent-1", uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, resourceVersion: "1" },
    spec: {
      project: "default",
      source: { repoURL: "https://github.com/argoproj/argocd-example-apps", path: "guestbook", targetRevision: "HEAD" },
      destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" },
      syncPolicy: { automated: { prune: true, selfHeal: true } },
    },
  };
  return objectEvent(EventTypes.specUpdate, EventTargets.application, app, AGENT_EVENT_SOURCE);
}

// ------------------------------------------------------------ our stack

let resent = 0;

async function ourStack(): Promise<{ eventsPerSec: number; pingRttMs: number[] }> {
  const method = new UserpassAuthentication(new Map([["agent-1", await bcryptHash("bench", 4)]]));
  const server = await startPrincipalServer({
    host: "127.0.0.1",
    port: 0,
    credentials: ServerCredentials.createInsecure(),
    auth: createPrincipalAuth({ method, issuer: new JwtIssuer({ key: await generateSigningKey() }), namespace: "argocd", subjectMatch: false }),
    namespace: "argocd",
    protocolVersion: "0.9.0",
    maxMessageSize: MAX,
    keepaliveMinIntervalMs: 0,
  });
  const acked = new Map<string, number>();
  let acks = 0;
  const wait = waiter();
  let topUp: (() => void) | undefined;
  const conn = new AgentConnection({
    address: "127.0.0.1",
    port: server.port,
    credentials: credentials.createInsecure(),
    creds: { method: "userpass", credentials: { clientid: "agent-1", clientsecret: "bench" } },
    mode: "autonomous",
    namespace: "argocd",
    protocolVersion: "0.9.0",
    maxMessageSize: MAX,
    keepAlivePingIntervalMs: 0,
    compression: false,
    heartbeatIntervalMs: 0,
    handler: async () => {},
    onEvent: (ev) => {
      if (ev.type !== EventTypes.processed) return;
      acks++;
      acked.set(ev.eventId, performance.now());
      topUp?.();
      wait.poke();
    },
    onStatus: () => wait.poke(),
  });
  const controller = new AbortController();
  const done = conn.run(controller.signal);
  try {
    await wait.until("agent connected", () => conn.status().state === "connected");

    // Warm-up, then the measured burst.
    for (let i = 0; i < 500; i++) conn.writer.add(appEvent(1_000_000 + i));
    await wait.until("warm-up acks", () => acks >= 500);
    acked.clear();
    const before = acks;
    const events = Array.from({ length: EVENTS }, (_, i) => appEvent(i));
    let next = 0;
    const t0 = performance.now();
    topUp = () => {
      if (next < EVENTS) conn.writer.add(events[next++]);
    };
    while (next < Math.min(WINDOW, EVENTS)) conn.writer.add(events[next++]);
    await wait.until("event acks", () => acks >= before + EVENTS);
    const eventsPerSec = EVENTS / ((performance.now() - t0) / 1000);
    topUp = undefined;
    resent = conn.writer.stats().resent;
    acked.clear();

    const pingRttMs: number[] = [];
    for (let i = 0; i < PINGS + 50; i++) {
      const ping = heartbeatEvent(AGENT_EVENT_SOURCE);
      const sent = performance.now();
      conn.writer.add(ping);
      await wait.until("heartbeat ack", () => acked.has(ping.eventId));
      if (i >= 50) pingRttMs.push(acked.get(ping.eventId)! - sent);
      acked.delete(ping.eventId);
    }
    return { eventsPerSec, pingRttMs };
  } finally {
    controller.abort();
    await done;
    await server.close(2000);
  }
}

// ------------------------------------------------------------ plain grpc-js baseline

const identity = (b: Buffer) => b;
const ECHO: ServiceDefinition = {
  echo: {
    path: "/bench.Echo/Echo",
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

async function baseline(messageBytes: Buffer): Promise<{ messagesPerSec: number; rttMs: number[] }> {
  const server = new Server({ "grpc.max_receive_message_length": MAX, "grpc.max_send_message_length": MAX });
  server.addService(ECHO, {
    echo: (call: ServerDuplexStream<Buffer, Buffer>) => {
      call.on("data", (m: Buffer) => call.write(m));
      call.on("end", () => call.end());
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const Client = makeGenericClientConstructor(ECHO, "bench.Echo");
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), { "grpc.max_receive_message_length": MAX, "grpc.max_send_message_length": MAX });
  const stream = (client as unknown as { echo(): ClientDuplexStream<Buffer, Buffer> }).echo();
  stream.on("error", () => {}); // "Call cancelled" when we close at the end
  let received = 0;
  let onMessage: (() => void) | undefined;
  const wait = waiter();
  stream.on("data", () => {
    received++;
    onMessage?.();
    wait.poke();
  });
  try {
    for (let i = 0; i < 500; i++) stream.write(messageBytes);
    await wait.until("warm-up echoes", () => received >= 500);
    const before = received;
    let sent = 0;
    const t0 = performance.now();
    onMessage = () => {
      if (sent < EVENTS) (sent++, stream.write(messageBytes));
    };
    while (sent < Math.min(WINDOW, EVENTS)) (sent++, stream.write(messageBytes));
    await wait.until("echoes", () => received >= before + EVENTS);
    onMessage = undefined;
    const messagesPerSec = EVENTS / ((performance.now() - t0) / 1000);

    const rttMs: number[] = [];
    for (let i = 0; i < PINGS + 50; i++) {
      const sent = performance.now();
      const got = new Promise<void>((r) => (onMessage = r));
      stream.write(messageBytes);
      await got;
      if (i >= 50) rttMs.push(performance.now() - sent);
    }
    return { messagesPerSec, rttMs };
  } finally {
    stream.end();
    client.close();
    server.forceShutdown();
  }
}

// ------------------------------------------------------------ run and report

const sample = appEvent(0);
const eventBytes = Buffer.from(Event.encode({ event: toWire(sample) }).finish());
const pingBytes = Buffer.from(Event.encode({ event: toWire(heartbeatEvent(AGENT_EVENT_SOURCE)) }).finish());

const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
  const t0 = performance.now();
  const out = await fn();
  console.error(`  ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return out;
};
const ours = await timed("argocd-agent-ts stream", ourStack);
const baseThroughput = await timed("echo baseline (event size)", () => baseline(eventBytes));
const baseRtt = await timed("echo baseline (ping size)", () => baseline(pingBytes));

const rows = [
  { metric: "events/s, one stream (acknowledged)", ours: round(ours.eventsPerSec, 0), baseline: round(baseThroughput.messagesPerSec, 0), unit: "msg/s" },
  { metric: "heartbeat round trip p50", ours: round(percentile(ours.pingRttMs, 50)), baseline: round(percentile(baseRtt.rttMs, 50)), unit: "ms" },
  { metric: "heartbeat round trip p99", ours: round(percentile(ours.pingRttMs, 99)), baseline: round(percentile(baseRtt.rttMs, 99)), unit: "ms" },
];
console.log(
  `transport bench (${new Date().toISOString()}, node ${process.version}, ${cpus().length} CPUs): ` +
    `${EVENTS} events of ${eventBytes.length} B (window ${WINDOW}, ${resent} re-sent), ${PINGS} pings of ${pingBytes.length} B; loopback plaintext`,
);
console.log("| metric | argocd-agent-ts | plain grpc-js echo | ratio |\n|---|---|---|---|");
for (const r of rows) console.log(`| ${r.metric} | ${r.ours} ${r.unit} | ${r.baseline} ${r.unit} | ${(r.ours / r.baseline).toFixed(2)}× |`);
mkdirSync("bench/results", { recursive: true });
writeFileSync(
  "bench/results/transport.json",
  JSON.stringify({ date: new Date().toISOString(), node: process.version, events: EVENTS, window: WINDOW, resent, pings: PINGS, eventBytes: eventBytes.length, pingBytes: pingBytes.length, rows }, null, 2) + "\n",
);
process.exit(0);
