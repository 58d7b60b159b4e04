#!/usr/bin/env node
/**
 * What tracing costs, off and on, measured in one run (operations.md §6.1: off by
 * default, no cost when off). Each configuration runs in a fresh child process,
 * alternating off/on over several rounds so machine noise hits both alike:
 *
 * - events/s: an in-process agent (AgentConnection) sends N Application
 *   status-update events, each built inside an informer-change hook as the
 *   agent's replication does, to an in-process principal over loopback
 *   plaintext (at most WINDOW outstanding); timed until the last ack arrives.
 *   With tracing on every event carries a traceparent, the principal makes a
 *   processing span per event and the agent an informer span, exported in
 *   batches over OTLP/gRPC to a local collector (test/support/otlp-collector.ts).
 * - event round trip: one event at a time, from building it to its ack; p50/p99.
 * - OpenTelemetry modules loaded: counted with a module resolve hook; with
 *   tracing off it must be 0 (the SDK is imported only by startTracing).
 *
 * Figures, never pass/fail. Bounded: each child stops after DEADLINE_MS.
 * Usage: npm run bench:tracing [-- --rounds 3 --events 10000 --window 500 --pings 1000]
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { registerHooks } from "node:module";
import { cpus } from "node:os";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg("rounds", 3);
const EVENTS = arg("events", 10_000);
const WINDOW = arg("window", 500);
const PINGS = arg("pings", 1_000);
const DEADLINE_MS = 120_000;

interface ChildResult {
  mode: "off" | "on";
  eventsPerSec: number;
  rttP50: number;
  rttP99: number;
  otelModules: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// ------------------------------------------------------------ child: one configuration

async function child(mode: "off" | "on", collector: string): Promise<ChildResult> {
  // Count every @opentelemetry module resolved from here on (our code is imported below).
  const otel = new Set<string>();
  registerHooks({
    resolve(specifier, context, next) {
      if (specifier.startsWith("@opentelemetry/")) otel.add(specifier);
      return next(specifier, context);
    },
  });
  const { credentials, ServerCredentials } = await import("@grpc/grpc-js");
  const { configureLogging } = await import("../src/observability/log.ts");
  const { UserpassAuthentication } = await import("../src/auth/userpass.ts");
  const { bcryptHash } = await import("../src/auth/bcrypt.ts");
  const { generateSigningKey, JwtIssuer } = await import("../src/auth/jwt-issuer.ts");
  const { createPrincipalAuth } = await import("../src/principal/principal-auth.ts");
  const { startPrincipalServer } = await import("../src/principal/server.ts");
  const { AGENT_EVENT_SOURCE, AgentConnection } = await import("../src/agent/connection.ts");
  const { objectEvent } = await import("../src/events/cloudevent.ts");
  const { EventTargets, EventTypes } = await import("../src/events/event-types.ts");
  const { startTracing, traceInformerChange } = await import("../src/tracing/tracing.ts");
  configureLogging({ defaultLevel: "error" });

  const tracing = mode === "on" ? await startTracing({ serviceName: "bench", component: "principal", address: collector, insecure: true }) : undefined;
  const method = new UserpassAuthentication(new Map([["agent-1", await bcryptHash("bench", 4)]]));
  const server = await startPrincipalServer({
    host: "127.0.0.1", port: 0, credentials: ServerCredentials.createInsecure(),
    auth: createPrincipalAuth({ method, issuer: new JwtIssuer({ key: await generateSigningKey() }), namespace: "argocd", subjectMatch: false }),
    namespace: "argocd", protocolVersion: "0.9.0", maxMessageSize: 4 << 20, keepaliveMinIntervalMs: 0,
  });
  const ackedAt = new Map<string, number>();
  let acks = 0;
  let poke: (() => void) | undefined;
  let topUp: (() => void) | undefined;
  const conn = new AgentConnection({
    address: "127.0.0.1", port: server.port, credentials: credentials.createInsecure(),
    creds: { method: "userpass", credentials: { clientid: "agent-1", clientsecret: "bench" } },
    mode: "managed", namespace: "argocd", protocolVersion: "0.9.0", maxMessageSize: 4 << 20,
    keepAlivePingIntervalMs: 0, compression: false, heartbeatIntervalMs: 0, handler: async () => {},
    onEvent: (ev) => {
      if (ev.type !== EventTypes.processed) return;
      acks++;
      ackedAt.set(ev.eventId, performance.now());
      topUp?.();
      poke?.();
    },
    onStatus: () => poke?.(),
  });
  const until = (what: string, cond: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bench: timed out waiting for ${what}`)), DEADLINE_MS);
      poke = () => {
        if (!cond()) return;
        clearTimeout(timer);
        poke = undefined;
        resolve();
      };
      poke();
    });
  /** What the agent's replication does on an informer update: build and queue the event inside the hook. */
  let version = 0;
  const send = (i: number): string => {
    const app = {
      metadata: { name: `app-${i}`, namespace: "argocd", uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, resourceVersion: String(++version) },
      spec: {
        project: "default", source: { repoURL: "https://github.com/argoproj/argocd-example-apps", path: "guestbook", targetRevision: "HEAD" },
        destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" },
      },
      status: { sync: { status: "Synced" }, health: { status: "Healthy" } },
    };
    let id = "";
    traceInformerChange("Application", "update", app, () => {
      const ev = objectEvent(EventTypes.statusUpdate, EventTargets.application, app, AGENT_EVENT_SOURCE);
      id = ev.eventId;
      conn.writer.add(ev);
    });
    return id;
  };
  const controller = new AbortController();
  const done = conn.run(controller.signal);
  try {
    await until("agent connected", () => conn.status().state === "connected");
    for (let i = 0; i < 500; i++) send(1_000_000 + i);
    await until("warm-up acks", () => acks >= 500);
    const before = acks;
    let next = 0;
    const t0 = performance.now();
    topUp = () => {
      if (next < EVENTS) send(next++);
    };
    while (next < Math.min(WINDOW, EVENTS)) send(next++);
    await until("event acks", () => acks >= before + EVENTS);
    const eventsPerSec = EVENTS / ((performance.now() - t0) / 1000);
    topUp = undefined;
    const rtt: number[] = [];
    for (let i = 0; i < PINGS + 50; i++) {
      const sent = performance.now();
      const id = send(2_000_000 + i);
      await until("event ack", () => ackedAt.has(id));
      if (i >= 50) rtt.push(ackedAt.get(id)! - sent);
    }
    return { mode, eventsPerSec, rttP50: percentile(rtt, 50), rttP99: percentile(rtt, 99), otelModules: otel.size };
  } finally {
    controller.abort();
    await done;
    await server.close(2000);
    await tracing?.shutdown();
  }
}

// ------------------------------------------------------------ parent: alternate configurations

async function parent(): Promise<void> {
  const { startOtlpCollector } = await import("../test/support/otlp-collector.ts");
  const collector = await startOtlpCollector();
  const results: ChildResult[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order: ("off" | "on")[] = round % 2 ? ["on", "off"] : ["off", "on"];
      for (const mode of order) {
        const t0 = performance.now();
        // Not spawnSync: the collector in this process must keep answering the child's exports.
        const res = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
          const args = [import.meta.filename, "--child", mode, "--collector", collector.address, "--events", String(EVENTS), "--window", String(WINDOW), "--pings", String(PINGS)];
          const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
          let out = "";
          let err = "";
          p.stdout.on("data", (d: Buffer) => (out += d));
          p.stderr.on("data", (d: Buffer) => (err += d));
          p.on("exit", (code) => resolve({ code, out, err }));
        });
        if (res.code !== 0) throw new Error(`child (${mode}) exited ${res.code}:\n${res.err}`);
        results.push(JSON.parse(res.out.trim().split("\n").at(-1)!) as ChildResult);
        console.error(`  round ${round + 1} tracing ${mode}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
    }
  } finally {
    await collector.close();
  }
  const of = (mode: "off" | "on", key: "eventsPerSec" | "rttP50" | "rttP99") => median(results.filter((r) => r.mode === mode).map((r) => r[key]));
  const r3 = (x: number) => +x.toFixed(3);
  const rows = [
    { metric: "events/s, one stream (acknowledged)", off: Math.round(of("off", "eventsPerSec")), on: Math.round(of("on", "eventsPerSec")), unit: "ev/s" },
    { metric: "event round trip p50", off: r3(of("off", "rttP50")), on: r3(of("on", "rttP50")), unit: "ms" },
    { metric: "event round trip p99", off: r3(of("off", "rttP99")), on: r3(of("on", "rttP99")), unit: "ms" },
    {
      metric: "OpenTelemetry modules loaded",
      off: Math.max(...results.filter((r) => r.mode === "off").map((r) => r.otelModules)),
      on: Math.max(...results.filter((r) => r.mode === "on").map((r) => r.otelModules)),
      unit: "",
    },
  ];
  console.log(
    `tracing bench (${new Date().toISOString()}, node ${process.version}, ${cpus().length} CPUs): median of ${ROUNDS} rounds, ` +
      `${EVENTS} events (window ${WINDOW}), ${PINGS} round trips; ${collector.spans.length} spans exported to the local OTLP collector`,
  );
  console.log("| metric | tracing off | tracing on | on / off |\n|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.metric} | ${r.off} ${r.unit} | ${r.on} ${r.unit} | ${r.off ? (r.on / r.off).toFixed(2) + "×" : "—"} |`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync(
    "bench/results/tracing.json",
    JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds: ROUNDS, events: EVENTS, window: WINDOW, pings: PINGS, spansExported: collector.spans.length, rows, runs: results }, null, 2) + "\n",
  );
}

const childMode = process.argv.includes("--child") ? (process.argv[process.argv.indexOf("--child") + 1] as "off" | "on") : undefined;
if (childMode) {
  const collector = process.argv[process.argv.indexOf("--collector") + 1];
  console.log(JSON.stringify(await child(childMode, collector)));
  process.exit(0);
} else {
  await parent();
  process.exit(0);
}
