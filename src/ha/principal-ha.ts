/**
 * Principal HA wired into the principal (issue #21, operations.md §4): reads
 * and checks the --ha-* settings, and hands run.ts the pieces it plugs in —
 * the replication gate and forwarding hooks, the Subscribe gate, the inbound
 * forwarding wrapper, the Replication service (always registered; it answers
 * UNIMPLEMENTED without --ha-enabled), the health view — then starts the
 * controller (preferred role) and the admin API once the server runs.
 * Failover is operator-driven only: --ha-failover-timeout is validated and,
 * as upstream, never used.
 *
 * @example
 *   const ha = await createPrincipalHa(cfg, { method, registry: metrics.registry });
 *   new PrincipalReplication({ ..., ha: ha.replicationHooks });
 *   startPrincipalServer({ ..., accepting: ha.subscribeRefusal, services: [ha.service] });
 *   await ha.start({ server, replication, kube, replicaCredentials });
 */
import type { ChannelCredentials } from "@grpc/grpc-js";
import type { Registry } from "prom-client";
import { StartupError } from "../cli/component-command.ts";
import type { AuthMethod } from "../auth/method.ts";
import type { AgentEvent } from "../events/cloudevent.ts";
import { EventTargets } from "../events/event-types.ts";
import type { KubeClient } from "../kube/client.ts";
import { getLogger } from "../observability/log.ts";
import type { HealthHaState } from "../observability/health.ts";
import type { AgentRecord } from "../principal/agent-registry.ts";
import type { PrincipalServer } from "../principal/server.ts";
import type { PrincipalHaHooks } from "../replication/principal/principal-context.ts";
import type { PrincipalReplication } from "../replication/principal/principal-replication.ts";
import type { EventHandler } from "../transport/event-session.ts";
import type { HaAdminServer } from "./admin-server.ts";
import type { HaController, HaRole } from "./ha-controller.ts";
import { replicationService } from "./replication-service.ts";

const log = getLogger("ha");

/** The --ha-* settings (and the namespace) as the principal's settings table parses them. */
export interface HaSettings {
  namespace: string;
  haEnabled: boolean;
  haPreferredRole: string;
  haPeerAddress: string;
  haFailoverTimeout: number;
  haAdminPort: number;
  /** The replica maps autonomous agents' apps as this principal does. */
  destinationBasedMapping: boolean;
  /** A snapshot is one message: the replica accepts what the server may send. */
  grpcMaxMessageSize: number;
  haAllowedReplicationClients: string[];
  haReplicationInitialAckTimeout: number;
}

/** Agent event targets never forwarded to replicas (upstream's exceptions). */
const NOT_FORWARDED_INBOUND: ReadonlySet<string> = new Set([EventTargets.heartbeat, EventTargets.clusterCacheInfoUpdate]);

export interface HaStartDeps {
  server: PrincipalServer;
  replication?: PrincipalReplication;
  /** Absent when the principal runs without Kubernetes: a replica then has nothing to write to. */
  kube?: KubeClient;
  /** The replica's channel to the peer, from this principal's own server TLS material (run.ts). */
  replicaCredentials: () => ChannelCredentials;
}

export interface PrincipalHa {
  enabled: boolean;
  /** For PrincipalReplication; undefined without --ha-enabled. */
  replicationHooks?: PrincipalHaHooks;
  /** For startPrincipalServer's `accepting`: the UNAVAILABLE message while not active. */
  subscribeRefusal: () => string | undefined;
  /** Wraps the replication lane's handler: events processed without error are forwarded (inbound). */
  inbound(rec: AgentRecord, handler: EventHandler | undefined): EventHandler | undefined;
  /** replicationapi.Replication for the main gRPC server. */
  service: ReturnType<typeof replicationService>;
  /** For the health server; undefined without --ha-enabled. */
  health?: HealthHaState;
  controller?: HaController;
  start(deps: HaStartDeps): Promise<void>;
  /** The admin API's port once started. */
  adminPort(): number | undefined;
  close(): Promise<void>;
}

/** host:port with a non-empty host and a port 1–65535 (IPv6 in brackets). */
export function validPeerAddress(addr: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(addr);
  return Boolean(m) && Number(m![2]) >= 1 && Number(m![2]) <= 65535;
}

/** Checks the --ha-* settings; every problem is a StartupError (exit 2) naming the flag. */
export function validateHaSettings(cfg: HaSettings): void {
  if (!cfg.haEnabled) {
    if (cfg.haPeerAddress || cfg.haPreferredRole !== "primary" || cfg.haAllowedReplicationClients.length || cfg.haAdminPort) {
      log.warn("--ha-* settings are ignored without --ha-enabled");
    }
    return;
  }
  if (cfg.haPreferredRole !== "primary" && cfg.haPreferredRole !== "replica") {
    throw new StartupError(`--ha-preferred-role must be primary or replica, got "${cfg.haPreferredRole}"`);
  }
  if (cfg.haPreferredRole === "replica" && !cfg.haPeerAddress) {
    throw new StartupError("--ha-peer-address (env ARGOCD_PRINCIPAL_HA_PEER_ADDRESS) is required with --ha-preferred-role replica: the replica follows that principal");
  }
  if (cfg.haPeerAddress && !validPeerAddress(cfg.haPeerAddress)) {
    throw new StartupError(`--ha-peer-address must be host:port (the peer principal's gRPC address), got "${cfg.haPeerAddress}"`);
  }
  const bad = cfg.haAllowedReplicationClients.filter((c) => c.trim() === "");
  if (bad.length) throw new StartupError("--ha-allowed-replication-clients contains an empty identity");
}

/** Without --ha-enabled only the settings check and the UNIMPLEMENTED service are loaded (start-up cost, issue #19). */
export async function createPrincipalHa(cfg: HaSettings, deps: { method: AuthMethod; registry: Registry }): Promise<PrincipalHa> {
  validateHaSettings(cfg);
  if (!cfg.haEnabled) {
    return {
      enabled: false,
      subscribeRefusal: () => undefined,
      inbound: (_rec, handler) => handler,
      service: replicationService(undefined),
      start: async () => {},
      adminPort: () => undefined,
      close: async () => {},
    };
  }
  const [{ startHaAdminServer }, { Forwarder }, { HaController }, { createHaMetrics }, { HaStateMachine }, { startReplicaClient }] = await Promise.all([
    import("./admin-server.ts"), import("./forwarder.ts"), import("./ha-controller.ts"), import("./ha-metrics.ts"), import("./ha-state.ts"), import("./replica-client.ts"),
  ]);
  const role = cfg.haPreferredRole as HaRole;
  const metrics = createHaMetrics(deps.registry);
  const state = new HaStateMachine();
  metrics.watchState(state);
  const forwarder = new Forwarder({ metrics: metrics.forwarder, initialAckTimeoutMs: cfg.haReplicationInitialAckTimeout });
  const accepting = () => state.isActive();
  let replication: PrincipalReplication | undefined;
  let admin: HaAdminServer | undefined;
  let controller: HaController | undefined;
  log.info("HA enabled", { preferred_role: role, peer: cfg.haPeerAddress || undefined, failover: "operator-driven (--ha-failover-timeout is not used)" });

  return {
    enabled: true,
    replicationHooks: {
      accepting,
      outbound: (agent: string, ev: AgentEvent) => void forwarder.forward(ev, agent, "outbound"),
    },
    subscribeRefusal() {
      if (accepting()) return undefined;
      metrics.connectionRejected(state.state(), "not accepting connections");
      return `not accepting connections in state ${state.state()}`;
    },
    inbound(rec, handler) {
      if (!handler) return handler;
      return async (ev, payload) => {
        const out = await handler(ev, payload);
        const ok = !out?.failed && !out?.retryableFailure && !out?.rejected;
        if (ok && accepting() && !NOT_FORWARDED_INBOUND.has(ev.target)) forwarder.forward(ev, rec.agent, "inbound");
        return out;
      };
    },
    service: replicationService({
      method: deps.method,
      allowedClients: cfg.haAllowedReplicationClients,
      state: () => state.state(),
      forwarder,
      context: () => replication?.context(),
    }),
    health: { state: () => state.state(), active: accepting },
    get controller() {
      return controller;
    },
    async start(d) {
      replication = d.replication;
      const kube = d.kube;
      if (role === "replica" && !kube) log.warn("this replica runs without Kubernetes (--kubeconfig or in-cluster): it cannot apply what the peer replicates");
      const startReplica =
        cfg.haPeerAddress && kube
          ? (onStreamState: (up: boolean) => void) =>
              startReplicaClient({
                peerAddress: cfg.haPeerAddress, credentials: d.replicaCredentials(), kube, namespace: cfg.namespace,
                destinationBased: cfg.destinationBasedMapping, maxMessageBytes: cfg.grpcMaxMessageSize, metrics: metrics.client, onStreamState,
              })
          : undefined;
      controller = new HaController({
        preferredRole: role,
        peerAddress: cfg.haPeerAddress,
        state,
        metrics,
        forwarder,
        startReplica,
        agents: {
          connectedCount: () => d.server.registry.connected().length,
          disconnectAll: () => {
            for (const rec of d.server.registry.connected()) rec.connection?.close();
          },
        },
        // Informer changes are held back until active, also those of the start (the state was recovering).
        onActive: () => replication?.resumeAsActive(),
      });
      try {
        admin = await startHaAdminServer({ port: cfg.haAdminPort, controller });
      } catch (err) {
        throw new StartupError(`--ha-admin-port: cannot serve the HA admin API on 127.0.0.1:${cfg.haAdminPort || 8405}: ${(err as Error).message}`);
      }
      controller.start();
    },
    adminPort: () => admin?.port,
    async close() {
      await admin?.close();
      await controller?.stop();
    },
  };
}
