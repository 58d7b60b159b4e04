/**
 * The mesh deployment of the seed guide, built from netns pods and Caddy
 * sidecars (test/support/netns.ts, sidecars.ts):
 *
 *   agent pod                                   principal pod
 *   agent --creds header: ─h2c─► caddy ══mTLS══► caddy (pod IP :15443) ─h2c─► principal 127.0.0.1:8443
 *         127.0.0.1:15001 (or via an extra hop)         sets the identity header
 *
 * @example
 *   const net = await createPodNetwork({ subnet: "10.123.11", pods: ["principal", "agent-1"] });
 *   const pki = await meshPki();
 *   const principal = await startPrincipalPod(net.pod("principal"), { flavour: "istio", pki });
 *   const agent = await startAgentPod(net.pod("agent-1"), { sa: "agent-1", pki, principal });
 *   await agent.waitReady();
 */
import { command, LIVE_ROOMS_OFF, type Runner, type Running } from "./processes.ts";
import type { Pod } from "./netns.ts";
import {
  agentSidecarCaddyfile, ISTIO_AUTH, LINKERD_AUTH, principalSidecarCaddyfile, startCaddy,
  type MeshFlavour, type MeshPki, type Sidecar,
} from "./sidecars.ts";

/** Ports inside the pods (each pod has its own network stack, so fixed numbers are fine). */
export const PORTS = {
  principalGrpc: 8443,
  principalHealthz: 8003,
  principalSidecar: 15443,
  agentSidecar: 15001,
  agentHealthz: 8001,
} as const;

/**
 * How the program runs in the pods: from source by default;
 * ARGOCD_AGENT_MESH_RUNNER=executable (or cjs) uses the build output (`npm run build`).
 */
const RUNNER = (process.env.ARGOCD_AGENT_MESH_RUNNER || "source") as Runner;
if (!["source", "cjs", "executable"].includes(RUNNER)) throw new Error(`ARGOCD_AGENT_MESH_RUNNER must be source, cjs or executable, not "${RUNNER}"`);

/** Starts the program (`node src/main.ts …`, or the built artefact) inside a pod. */
export function startProgram(pod: Pod, args: string[], env: Record<string, string> = {}): Running {
  const [bin, pre] = command(RUNNER);
  return pod.start(bin, [...pre, ...args], env);
}

export interface PrincipalPod {
  pod: Pod;
  flavour: MeshFlavour;
  principal: Running;
  sidecar: Sidecar;
  /** The inbound sidecar's address as seen from other pods. */
  sidecarAddress: { ip: string; port: number };
  /** Number of "agent connected" lines for `agent` so far. */
  connects(agent: string): number;
  stop(): Promise<void>;
}

export interface PrincipalPodOptions {
  flavour: MeshFlavour;
  pki: MeshPki;
  /** The principal's namespace (default "argocd"). */
  namespace?: string;
  /** Extra principal arguments (e.g. --kubeconfig). */
  extraArgs?: string[];
  /** Replaces the default `--log-level info,auth=debug`. */
  logLevel?: string;
  env?: Record<string, string>;
}

/** Occurrences of `agent connected … agent=<name>` (including "connected again") in a log. */
export function countConnected(log: string, agent: string): number {
  const re = new RegExp(`msg="agent connected[^"]*" agent=${agent.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(\\s|$)`, "gm");
  return [...log.matchAll(re)].length;
}

export async function startPrincipalPod(pod: Pod, o: PrincipalPodOptions): Promise<PrincipalPod> {
  const principal = startProgram(pod, [
    "principal", "-n", o.namespace ?? "argocd",
    "--listen-host", "127.0.0.1", "--listen-port", String(PORTS.principalGrpc),
    "--insecure-plaintext",
    "--auth", o.flavour === "istio" ? ISTIO_AUTH : LINKERD_AUTH,
    "--insecure-jwt-generate",
    "--healthz-port", String(PORTS.principalHealthz), "--metrics-port", "0",
    "--log-level", o.logLevel ?? "info,auth=debug",
    ...LIVE_ROOMS_OFF,
    ...(o.extraArgs ?? []),
  ], o.env);
  let sidecar: Sidecar | undefined;
  try {
    await principal.waitFor(/msg="principal started"/, 60_000);
    sidecar = await startCaddy(pod, {
      files: { "principal.crt": o.pki.principal.cert + o.pki.ca.cert, "principal.key": o.pki.principal.key, "mesh-ca.crt": o.pki.ca.cert },
      caddyfile: (files) => principalSidecarCaddyfile({ flavour: o.flavour, bindIp: pod.ip, port: PORTS.principalSidecar, upstreamPort: PORTS.principalGrpc, files }),
      listen: [{ host: pod.ip, port: PORTS.principalSidecar }],
    });
  } catch (err) {
    await principal.stop("SIGKILL");
    throw err;
  }
  const sc = sidecar;
  return {
    pod,
    flavour: o.flavour,
    principal,
    sidecar: sc,
    sidecarAddress: { ip: pod.ip, port: PORTS.principalSidecar },
    connects: (agent) => countConnected(principal.output(), agent),
    async stop() {
      await Promise.all([principal.stop("SIGTERM", 5_000), sc.stop()]);
    },
  };
}

export interface AgentPod {
  pod: Pod;
  agent: Running;
  sidecar: Sidecar;
  /** Polls the agent's /readyz inside the pod until it answers 200. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** The HTTP status of /readyz right now (0: no answer). */
  readyz(): number;
  stop(): Promise<void>;
}

export interface AgentPodOptions {
  /** The agent's ServiceAccount: its mesh identity, hence its agent name. */
  sa: string;
  pki: MeshPki;
  principal: { sidecarAddress: { ip: string; port: number } };
  /** The agent's namespace (default "argocd"). */
  namespace?: string;
  /** Default "managed". */
  mode?: "managed" | "autonomous";
  /** Extra agent arguments (e.g. --heartbeat-interval). */
  extraArgs?: string[];
  /**
   * Where the agent connects (default: its Caddy sidecar on 127.0.0.1:15001).
   * Set it to put another hop (e.g. nginx) between the agent and its sidecar.
   */
  agentTarget?: { host: string; port: number };
  /** Called after the sidecar is up and before the agent starts. */
  beforeAgent?: () => Promise<void>;
  env?: Record<string, string>;
}

export async function startAgentPod(pod: Pod, o: AgentPodOptions): Promise<AgentPod> {
  const workload = await o.pki.workload(o.sa);
  const sidecar = await startCaddy(pod, {
    files: { "workload.crt": workload.cert, "workload.key": workload.key, "mesh-ca.crt": o.pki.ca.cert },
    caddyfile: (files) =>
      agentSidecarCaddyfile({ listenPort: PORTS.agentSidecar, principalIp: o.principal.sidecarAddress.ip, principalPort: o.principal.sidecarAddress.port, files }),
    listen: [{ host: "127.0.0.1", port: PORTS.agentSidecar }],
  });
  let agent: Running;
  try {
    await o.beforeAgent?.();
    const target = o.agentTarget ?? { host: "127.0.0.1", port: PORTS.agentSidecar };
    agent = startProgram(pod, [
      "agent", "-n", o.namespace ?? "argocd", "--agent-mode", o.mode ?? "managed",
      "--server-address", target.host, "--server-port", String(target.port),
      "--creds", "header:",
      "--healthz-port", String(PORTS.agentHealthz), "--metrics-port", "0",
      ...(o.extraArgs ?? []),
    ], o.env);
  } catch (err) {
    await sidecar.stop();
    throw err;
  }
  const readyz = () => {
    const r = pod.run("curl", ["-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", `http://127.0.0.1:${PORTS.agentHealthz}/readyz`], { allowFail: true });
    return Number(r.stdout.trim()) || 0;
  };
  return {
    pod,
    agent,
    sidecar,
    readyz,
    async waitReady(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (readyz() !== 200) {
        if (agent.proc.exitCode !== null) throw new Error(`agent in ${pod.name} exited:\n${agent.output()}`);
        if (Date.now() > deadline) throw new Error(`agent in ${pod.name} not ready after ${timeoutMs} ms:\n${agent.output()}\n--- sidecar:\n${sidecar.proc.output()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async stop() {
      await Promise.all([agent.stop("SIGTERM", 5_000), sidecar.stop()]);
    },
  };
}
