/**
 * `argocd-agent agent`: turns settings into credentials, connects to the
 * principal and keeps the connection up until the signal aborts.
 */
import { StartupError } from "../cli/component-command.ts";
import { lazyKube } from "../cli/lazy-kube.ts";
import { getLogger } from "../observability/log.ts";
import { startHealthServer } from "../observability/health.ts";
import type { SettingValues } from "../settings/types.ts";
import type { AGENT_SETTINGS } from "../settings/agent-settings.ts";
import { AuthConfigError, parseAgentCreds, type AgentCredentials } from "../auth/method.ts";
import { waitForApiServer, type KubeClient } from "../kube/client.ts";
import { channelCredentials, type ClientTlsOptions } from "../transport/client-credentials.ts";
import { credentials as grpcCredentials } from "@grpc/grpc-js";
import { cipherListText, tlsVersionOptions, wantsCipherList } from "../transport/tls-options.ts";
import { checkPem, readPem, readSecret, secretField } from "../transport/tls-material.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { AgentConnection, type ConnectionStatus } from "./connection.ts";
import { createAgentMetrics } from "./agent-metrics.ts";
import { newRegistry, startMetricsServer } from "../observability/metrics.ts";
import { EventWriter } from "../events/event-writer.ts";
import { AgentReplication, agentReplicationConfigError } from "../replication/agent/agent-replication.ts";
import { replicationEnabled } from "../replication/enabled.ts";
import { laneRouter } from "../events/lanes.ts";
import { startAgentLiveResources, type AgentLiveResources } from "./live-resources.ts";
import { startTracingAndProfiling } from "../cli/tracing-and-profiling.ts";

export type AgentSettings = SettingValues<typeof AGENT_SETTINGS>;

const log = getLogger("agent");

async function clientTls(cfg: AgentSettings, creds: AgentCredentials, kube: () => KubeClient): Promise<ClientTlsOptions> {
  const base = { insecureSkipVerify: false, ...tlsVersionOptions(cfg) };
  if (creds.method === "header") {
    // The seed guide pairs header creds with tls.client.insecure, which cannot
    // work against a plaintext principal: the sidecar does TLS, we talk plaintext to it.
    if (!cfg.insecurePlaintext) {
      log.info("--creds=header: talking plaintext to the local mesh sidecar; the sidecar provides mTLS, TLS flags are ignored");
    }
    return { ...base, plaintext: true };
  }
  if (cfg.insecurePlaintext) {
    log.warn("talking to the principal WITHOUT TLS (--insecure-plaintext)");
    return { ...base, plaintext: true };
  }
  const out: ClientTlsOptions = { ...base, plaintext: false };
  if (cfg.insecureTls) {
    log.warn("INSECURE: not verifying the principal's certificate (--insecure-tls)");
    out.insecureSkipVerify = true;
  } else if (cfg.rootCaPath) {
    out.rootCa = await readPem(cfg.rootCaPath, "--root-ca-path", "certificate");
  } else {
    const data = await readSecret(kube(), cfg.namespace, cfg.rootCaSecretName, "--root-ca-secret-name");
    const where = `Secret ${cfg.namespace}/${cfg.rootCaSecretName}`;
    for (const [k, v] of Object.entries(data)) checkPem(v, `${where} field ${k}`, "certificate");
    out.rootCa = Buffer.concat(Object.values(data));
  }
  if (cfg.tlsClientCert || cfg.tlsClientKey) {
    if (!cfg.tlsClientCert || !cfg.tlsClientKey) throw new StartupError("--tls-client-cert and --tls-client-key must be set together");
    out.clientCert = await readPem(cfg.tlsClientCert, "--tls-client-cert", "certificate");
    out.clientKey = await readPem(cfg.tlsClientKey, "--tls-client-key", "key");
  } else if (creds.method === "mtls") {
    const data = await readSecret(kube(), cfg.namespace, cfg.tlsSecretName, "--tls-secret-name");
    const where = `Secret ${cfg.namespace}/${cfg.tlsSecretName}`;
    out.clientCert = secretField(data, "tls.crt", where, "certificate");
    out.clientKey = secretField(data, "tls.key", where, "key");
  }
  return out;
}

function newReplication(cfg: AgentSettings, kube: KubeClient, writer: EventWriter): AgentReplication {
  const o = {
    kube,
    mode: cfg.agentMode as "managed" | "autonomous",
    namespace: cfg.namespace,
    writer,
    labelSelector: cfg.labelSelector,
    resyncIntervalMs: cfg.resyncInterval,
    informerSyncTimeoutMs: cfg.informerSyncTimeout,
    mismatchPolicy: cfg.sourceUidMismatchPolicy as "recreate" | "upsert",
    onRecreate: cfg.onApplicationRecreate as "ignore" | "clear-status" | "resync",
    destinationBased: cfg.destinationBasedMapping,
    createNamespace: cfg.createNamespace,
    allowedNamespaces: cfg.allowedNamespaces,
    ignoreUnmanagedApps: cfg.ignoreUnmanagedApps,
    adoptionPolicy: cfg.adoptionPolicy as "always" | "never",
    bufferInformerEventIntervalMs: cfg.bufferInformerEventInterval,
  };
  try {
    return new AgentReplication(o);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
}

export interface AgentRuntime {
  connection: AgentConnection;
  replication?: AgentReplication;
  live: AgentLiveResources;
  done: Promise<void>;
  metricsPort?: number;
  close(): Promise<void>;
}

/** Starts the agent; exported for tests that run it in-process. */
export async function startAgent(cfg: AgentSettings, opts: { handler?: EventHandler; signal?: AbortSignal } = {}): Promise<AgentRuntime> {
  if (cfg.serverAddress === "") throw new StartupError("no remote specified: set --server-address (env ARGOCD_AGENT_REMOTE_SERVER)");
  if (cfg.namespace === "") throw new StartupError("namespace must not be empty: set --namespace (env ARGOCD_AGENT_NAMESPACE)");
  const combination = agentReplicationConfigError({
    mode: cfg.agentMode as "managed" | "autonomous",
    destinationBased: cfg.destinationBasedMapping,
    createNamespace: cfg.createNamespace,
    ignoreUnmanagedApps: cfg.ignoreUnmanagedApps,
  });
  if (combination) throw new StartupError(combination);
  let creds: AgentCredentials;
  try {
    creds = parseAgentCreds(cfg.creds);
  } catch (err) {
    if (err instanceof AuthConfigError) throw new StartupError(err.message);
    throw err;
  }
  const kube = lazyKube(cfg);
  const tls = await clientTls(cfg, creds, kube);
  // Before the informers and the connection, so their spans exist from the start.
  const tools = await startTracingAndProfiling(cfg, { serviceName: `agent-${cfg.agentMode}`, component: "agent", agentMode: cfg.agentMode, agentName: cfg.namespace });
  // Same rule as the principal: replicate when a kubeconfig is given or we run in a pod.
  const writer = new EventWriter({ name: "principal" });
  const replication = !opts.handler && replicationEnabled(cfg) ? newReplication(cfg, kube(), writer) : undefined;
  if (!replication && !opts.handler) log.warn("no --kubeconfig and not in a cluster: Applications and AppProjects are NOT replicated");
  let status: ConnectionStatus = { state: "connecting", attempt: 0 };
  // Health first and unready: an API server that is not up yet leaves us alive, waiting, like the principal.
  const health = cfg.healthzPort
    ? await startHealthServer({ port: cfg.healthzPort, ready: () => (status.state === "connected" ? undefined : `not connected (${status.state})`) })
    : undefined;
  try {
    if (replication && !(await waitForApiServer(kube(), opts.signal))) throw new Error("aborted while waiting for the API server");
    await replication?.start();
  } catch (err) {
    await replication?.close();
    await health?.close();
    await tools.close();
    throw new StartupError(`starting replication: ${(err as Error).message}`);
  }
  const metrics = createAgentMetrics(newRegistry(), cfg.agentMode);
  const metricsServer = cfg.metricsPort ? await startMetricsServer(cfg.metricsPort, metrics.registry) : undefined;
  let connection: AgentConnection | undefined;
  const live = await startAgentLiveResources(cfg, {
    kube: replicationEnabled(cfg) ? kube() : undefined, writer, metricsRegistry: metrics.registry, channel: () => connection?.liveChannel(),
    connected: () => connection?.status().state === "connected",
  });
  const handler: EventHandler = opts.handler ?? laneRouter({ replication: replication?.handler, live: live.lanes });
  // --enable-websocket: the channel talks to an in-process proxy that carries each call over a WebSocket.
  // Its modules (and ws) are evaluated only then (issue #19).
  const wsProxy = cfg.enableWebsocket ? await (await import("../transport/websocket/agent-proxy.ts")).startWebSocketProxy({ address: cfg.serverAddress, port: cfg.serverPort, tls }) : undefined;
  connection = new AgentConnection({
    address: cfg.serverAddress,
    port: cfg.serverPort,
    credentials: wsProxy ? grpcCredentials.createInsecure() : channelCredentials(tls),
    via: wsProxy && { target: wsProxy.target, channelOptions: wsProxy.channelOptions },
    creds,
    mode: cfg.agentMode as "managed" | "autonomous",
    namespace: cfg.namespace,
    protocolVersion: cfg.protocolVersion,
    maxMessageSize: cfg.grpcMaxMessageSize,
    keepAlivePingIntervalMs: cfg.keepAlivePingInterval,
    compression: cfg.enableCompression,
    heartbeatIntervalMs: cfg.heartbeatInterval,
    writer,
    handler: metrics.wrapHandler(handler),
    onEvent: metrics.onEvent,
    ...(replication ? { onConnected: (info: { agent: string; principalNamespace: string }) => replication.onConnected(info) } : {}),
    onStatus: (s) => {
      status = s;
      metrics.onStatus(s);
    },
  });
  metrics.attach(connection);
  const controller = new AbortController();
  log.info("agent started", { mode: cfg.agentMode, server: `${cfg.serverAddress}:${cfg.serverPort}`, creds: creds.method, tls: !tls.plaintext, websocket: !!wsProxy });
  const done = connection.run(controller.signal);
  return {
    connection,
    replication,
    live,
    done,
    metricsPort: metricsServer?.port,
    async close() {
      controller.abort();
      await done;
      await wsProxy?.close();
      await live.close();
      await replication?.close();
      await metricsServer?.close();
      await health?.close();
      await tools.close();
    },
  };
}

export async function runAgent(cfg: AgentSettings, signal: AbortSignal): Promise<void> {
  if (wantsCipherList(cfg)) {
    process.stdout.write(cipherListText() + "\n");
    return;
  }
  const agent = await startAgent(cfg, { signal });
  // A SIGTERM during start-up has already fired the abort: do not wait for it again.
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  await agent.close();
  log.info("agent stopped");
}
