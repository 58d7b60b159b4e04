/**
 * `argocd-agent principal`: turns settings into TLS material, an auth method
 * and a JWT issuer, starts the gRPC server and the health endpoint, and runs
 * until the signal aborts. Every configuration problem is a StartupError (exit 2).
 */
import { StartupError } from "../cli/component-command.ts";
import { lazyKube } from "../cli/lazy-kube.ts";
import { getLogger } from "../observability/log.ts";
import { startHealthServer } from "../observability/health.ts";
import type { SettingValues } from "../settings/types.ts";
import type { PRINCIPAL_SETTINGS } from "../settings/principal-settings.ts";
import { AuthConfigError, parseAuthSetting, type AuthMethod } from "../auth/method.ts";
import { validateAuthTlsPairing } from "../auth/pairing.ts";
import { generateSigningKey, JwtIssuer, signingKeyFromPem, type SigningKey } from "../auth/jwt-issuer.ts";
import { waitForApiServer, type KubeClient } from "../kube/client.ts";
import { cipherListText, tlsVersionOptions, wantsCipherList } from "../transport/tls-options.ts";
import { readPem, readSecret, secretField } from "../transport/tls-material.ts";
import { serverCredentials, type ServerTlsMaterial } from "../transport/server-credentials.ts";
import { channelCredentials } from "../transport/client-credentials.ts";
import { ServerCredentials, type ChannelCredentials } from "@grpc/grpc-js";
import { readFile } from "node:fs/promises";
import { createPrincipalAuth } from "./principal-auth.ts";
import { startPrincipalServer, type PrincipalServer } from "./server.ts";
import { createPrincipalMetrics } from "./principal-metrics.ts";
import { newRegistry, startMetricsServer } from "../observability/metrics.ts";
import { PrincipalReplication } from "../replication/principal/principal-replication.ts";
import { replicationEnabled } from "../replication/enabled.ts";
import { laneRouter } from "../events/lanes.ts";
import { startLiveResources } from "./live-resources.ts";
import { startTracingAndProfiling } from "../cli/tracing-and-profiling.ts";
import { selfRegistrationSettings } from "../registration/registration-settings.ts";
import { SelfRegistration } from "../registration/self-registration.ts";
import { createPrincipalHa } from "../ha/principal-ha.ts";

export type PrincipalSettings = SettingValues<typeof PRINCIPAL_SETTINGS>;

const log = getLogger("principal");

function parseAuth(cfg: PrincipalSettings): AuthMethod {
  try {
    return parseAuthSetting(cfg.auth);
  } catch (err) {
    if (err instanceof AuthConfigError) throw new StartupError(err.message);
    throw err;
  }
}

/**
 * The server credentials, and the channel credentials an HA replica dials its
 * peer with: the same material turned around (client certificate = our server
 * certificate, trusted CA = our client CA, same TLS versions and ciphers), as
 * upstream; plaintext with --insecure-plaintext (a mesh sidecar carries identity).
 */
async function serverTls(cfg: PrincipalSettings, method: AuthMethod, kube: () => KubeClient): Promise<{ server: ServerCredentials; replica: () => ChannelCredentials }> {
  if (cfg.insecurePlaintext) {
    log.warn("serving gRPC WITHOUT TLS (--insecure-plaintext): only behind a mesh sidecar on loopback");
    return { server: ServerCredentials.createInsecure(), replica: () => channelCredentials({ plaintext: true, insecureSkipVerify: false }) };
  }
  const requireClientCert = cfg.requireClientCerts || method.name === "mtls";
  let material: ServerTlsMaterial;
  if (cfg.insecureTlsGenerate) {
    log.warn("INSECURE: using a generated self-signed server certificate (--insecure-tls-generate)");
    // Loaded only here: @peculiar/x509 costs ~3 MiB of heap in every principal otherwise (issue #19).
    const { generateSelfSignedServer } = await import("../transport/certificates.ts");
    const gen = await generateSelfSignedServer(["localhost", "127.0.0.1", cfg.listenHost].filter(Boolean));
    material = { cert: Buffer.from(gen.cert), key: Buffer.from(gen.key) };
  } else if (cfg.tlsCert || cfg.tlsKey) {
    if (!cfg.tlsCert || !cfg.tlsKey) throw new StartupError("--tls-cert and --tls-key must be set together");
    material = { cert: await readPem(cfg.tlsCert, "--tls-cert", "certificate"), key: await readPem(cfg.tlsKey, "--tls-key", "key") };
  } else {
    const data = await readSecret(kube(), cfg.namespace, cfg.tlsSecretName, "--tls-secret-name");
    const where = `Secret ${cfg.namespace}/${cfg.tlsSecretName}`;
    material = { cert: secretField(data, "tls.crt", where, "certificate"), key: secretField(data, "tls.key", where, "key") };
  }
  if (requireClientCert || cfg.rootCaPath) {
    if (cfg.rootCaPath) material.clientCa = await readPem(cfg.rootCaPath, "--root-ca-path", "certificate");
    else {
      const data = await readSecret(kube(), cfg.namespace, cfg.tlsCaSecretName, "--tls-ca-secret-name");
      const where = `Secret ${cfg.namespace}/${cfg.tlsCaSecretName}`;
      material.clientCa = secretField(data, data["ca.crt"]?.length ? "ca.crt" : "tls.crt", where, "certificate");
    }
  }
  const versions = tlsVersionOptions(cfg);
  return {
    server: serverCredentials(material, { requireClientCert, ...versions }),
    replica: () => channelCredentials({ plaintext: false, insecureSkipVerify: false, rootCa: material.clientCa, clientCert: material.cert, clientKey: material.key, ...versions }),
  };
}

async function signingKey(cfg: PrincipalSettings, kube: () => KubeClient): Promise<SigningKey> {
  try {
    if (cfg.jwtKey) return signingKeyFromPem(await readFile(cfg.jwtKey, "utf8"), `--jwt-key ${cfg.jwtKey}`);
    if (cfg.insecureJwtGenerate) {
      log.warn("INSECURE: using a generated JWT signing key (--insecure-jwt-generate); tokens die with this process");
      return await generateSigningKey();
    }
    const data = await readSecret(kube(), cfg.namespace, cfg.jwtSecretName, "--jwt-secret-name");
    const pem = data["jwt.key"];
    if (!pem?.length) throw new StartupError(`Secret ${cfg.namespace}/${cfg.jwtSecretName}: field jwt.key is missing or empty`);
    return signingKeyFromPem(pem.toString("utf8"), `Secret ${cfg.namespace}/${cfg.jwtSecretName}`);
  } catch (err) {
    if (err instanceof StartupError) throw err;
    throw new StartupError(`JWT signing key: ${(err as Error).message}`);
  }
}

/** Starts everything; exported for tests that run a principal in-process. */
export async function startPrincipal(
  cfg: PrincipalSettings,
  signal?: AbortSignal,
): Promise<{ server: PrincipalServer; replication?: PrincipalReplication; metricsPort?: number; resourceProxyPort?: number; redisProxyPort?: number; haAdminPort?: number; close(): Promise<void> }> {
  if (cfg.namespace === "") {
    throw new StartupError("namespace is required for principal identity: set --namespace (env ARGOCD_PRINCIPAL_NAMESPACE)");
  }
  const registrationSettings = selfRegistrationSettings(cfg, replicationEnabled(cfg));
  const method = parseAuth(cfg);
  try {
    const { warnings } = validateAuthTlsPairing({
      auth: method,
      plaintext: cfg.insecurePlaintext,
      listenHost: cfg.listenHost,
      allowNonLoopbackPlaintext: cfg.insecureAllowNonloopbackHeaderAuth,
    });
    for (const w of warnings) log.warn(w);
  } catch (err) {
    if (err instanceof AuthConfigError) throw new StartupError(err.message);
    throw err;
  }
  log.info("authentication method", { auth: method.describe() });
  // Before the gRPC server and the informers, so their spans exist from the start.
  const tools = await startTracingAndProfiling(cfg, { serviceName: "principal", component: "principal" });
  const metrics = createPrincipalMetrics(newRegistry());
  const ha = await createPrincipalHa(cfg, { method, registry: metrics.registry });
  // Health first, so /healthz answers while we start; /readyz turns ready at the end.
  let notReady: string | undefined = "starting";
  const health = cfg.healthzPort ? await startHealthServer({ port: cfg.healthzPort, ready: () => notReady, ha: ha.health }) : undefined;
  const metricsServer = cfg.metricsPort ? await startMetricsServer(cfg.metricsPort, metrics.registry) : undefined;
  const kube = lazyKube(cfg);
  const tls = await serverTls(cfg, method, kube);
  const issuer = new JwtIssuer({ key: await signingKey(cfg, kube) });
  const auth = createPrincipalAuth({
    method,
    issuer,
    namespace: cfg.namespace,
    subjectMatch: cfg.clientCertSubjectMatch && !cfg.insecurePlaintext && (cfg.requireClientCerts || method.name === "mtls"),
  });
  const registration = registrationSettings && new SelfRegistration({ kube: kube(), issuer, namespace: cfg.namespace, ...registrationSettings });
  if (registrationSettings) log.info("self cluster registration enabled", { client_cert_secret: registrationSettings.clientCertSecret, resource_proxy_address: registrationSettings.resourceProxyAddress });
  const replication = replicationEnabled(cfg)
    ? new PrincipalReplication({
        kube: kube(),
        namespace: cfg.namespace,
        allowedNamespaces: cfg.allowedNamespaces,
        labelSelector: cfg.labelSelector,
        resyncIntervalMs: cfg.resyncInterval,
        namespaceCreate: { enable: cfg.namespaceCreateEnable, pattern: cfg.namespaceCreatePattern, labels: cfg.namespaceCreateLabels },
        destinationBased: cfg.destinationBasedMapping,
        eventProcessors: cfg.eventProcessors,
        ha: ha.replicationHooks,
      })
    : undefined;
  if (!replication) log.warn("no --kubeconfig and not in a cluster: Applications and AppProjects are NOT replicated");
  // Live-resource rooms first, as upstream: an agent that connects finds its live lanes ready.
  let grpcServer: PrincipalServer | undefined;
  const live = await startLiveResources(cfg, {
    kube, issuer, auth, registry: () => grpcServer?.registry, metricsRegistry: metrics.registry,
    agentForApp: (namespace, name) => replication?.agentForApp(namespace, name),
  });
  const server = await startPrincipalServer({
    host: cfg.listenHost,
    port: cfg.listenPort,
    credentials: tls.server,
    auth,
    namespace: cfg.namespace,
    protocolVersion: cfg.protocolVersion,
    maxMessageSize: cfg.grpcMaxMessageSize,
    keepaliveMinIntervalMs: cfg.keepaliveMinInterval,
    websocket: cfg.enableWebsocket,
    registerAgent: registration ? (agent) => registration.register(agent) : undefined,
    ...metrics.hooks,
    handler: metrics.wrapHandler((rec) => laneRouter({ replication: ha.inbound(rec, replication?.handler(rec)), live: live.lanes(rec.agent) })),
    services: [...live.grpcServices, ha.service],
    accepting: ha.subscribeRefusal,
  });
  grpcServer = server;
  live.attach(server.registry);
  metrics.attach(server);
  if (replication) metrics.attachWrites(() => replication.writes());
  if (replication) metrics.attachDataStats(() => replication.dataStats());
  try {
    if (replication && !(await waitForApiServer(kube(), signal))) throw new Error("aborted while waiting for the API server");
    await replication?.start(server.registry);
  } catch (err) {
    await server.close();
    await live.close();
    await replication?.close();
    await tools.close();
    throw new StartupError(`starting replication: ${(err as Error).message}`);
  }
  try {
    await ha.start({ server, replication, kube: replication ? kube() : undefined, replicaCredentials: tls.replica });
  } catch (err) {
    await server.close();
    await live.close();
    await replication?.close();
    await tools.close();
    throw err;
  }
  notReady = undefined;
  log.info("principal started", { namespace: cfg.namespace, port: server.port });
  return {
    server,
    replication,
    metricsPort: metricsServer?.port,
    resourceProxyPort: live.resourceProxy?.port,
    redisProxyPort: live.redis.proxy?.port,
    haAdminPort: ha.adminPort(),
    async close() {
      notReady = "shutting down";
      await ha.close();
      await server.close();
      await live.close();
      await replication?.close();
      await metricsServer?.close();
      await health?.close();
      await tools.close();
    },
  };
}

export async function runPrincipal(cfg: PrincipalSettings, signal: AbortSignal): Promise<void> {
  if (wantsCipherList(cfg)) {
    process.stdout.write(cipherListText() + "\n");
    return;
  }
  const running = await startPrincipal(cfg, signal);
  // A SIGTERM during start-up has already fired the abort: do not wait for it again.
  if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  await running.close();
  log.info("principal stopped");
}
