/**
 * Pod logs and the web terminal through the principal (live-resources.md §4,
 * §5): the room that turns the resource proxy's `…/pods/{pod}/log` requests
 * and `…/pods/{pod}/exec` WebSockets into `containerlog` / `terminal-request`
 * events, serves the two gRPC services the agent streams them back on
 * (`principal.apis.logstreamapi.LogStreamService`,
 * `terminalstreamapi.TerminalStreamService`, with the agent's access token as
 * Subscribe), and, on the agent, runs the log reads and execs against the
 * agent's own API server. It meets the rest of the program at four doors:
 * the resource proxy's SubresourceHooks, the principal's extra gRPC services,
 * the live event lanes, and the agent connection's live channel.
 *
 * @example
 *   const streams = principalStreams({ agents, verify, proxyTimeoutMs: 30_000, metrics });
 *   startResourceProxy({ ..., hooks: streams.hooks });
 *   startPrincipalServer({ ..., services: streams.grpcServices });
 *   const onAgent = agentStreams({ kc, channel: () => connection.liveChannel() });
 *   laneRouter({ live: onAgent.lanes });
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { EventTargets } from "../events/event-types.ts";
import type { Lanes } from "../events/lanes.ts";
import { LogStreamServiceService } from "../proto/gen/logstream.ts";
import { TerminalStreamServiceService } from "../proto/gen/terminalstream.ts";
import type { ProxyAgents, SubresourceHooks } from "../resourceproxy/server.ts";
import { AgentLogStreams, type LiveChannel } from "./agent-logs.ts";
import { AgentTerminals } from "./agent-terminal.ts";
import { LogSessions } from "./principal-logs.ts";
import { TerminalSessions } from "./principal-terminal.ts";
import type { StreamMetrics, VerifyCall } from "./stream-common.ts";

export interface GrpcServiceEntry {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface PrincipalStreams {
  logs: LogSessions;
  terminals: TerminalSessions;
  hooks: SubresourceHooks;
  grpcServices: GrpcServiceEntry[];
  close(): void;
}

export interface PrincipalStreamsOptions {
  agents: ProxyAgents;
  verify: VerifyCall;
  /** --resource-proxy-timeout: static logs wait 6× this (upstream), a followed stream may resume within 1×. */
  proxyTimeoutMs: number;
  metrics?: StreamMetrics;
  terminalSessionLimitMs?: number;
}

export function principalStreams(o: PrincipalStreamsOptions): PrincipalStreams {
  const logs = new LogSessions({ agents: o.agents, verify: o.verify, staticTimeoutMs: 6 * o.proxyTimeoutMs, reattachMs: o.proxyTimeoutMs, metrics: o.metrics });
  const terminals = new TerminalSessions({ agents: o.agents, verify: o.verify, metrics: o.metrics, sessionLimitMs: o.terminalSessionLimitMs });
  return {
    logs,
    terminals,
    hooks: { log: logs.httpHook, exec: terminals.upgradeHook },
    grpcServices: [
      { definition: LogStreamServiceService as unknown as ServiceDefinition, implementation: logs.service },
      { definition: TerminalStreamServiceService as unknown as ServiceDefinition, implementation: terminals.service },
    ],
    close() {
      logs.close();
      terminals.close();
    },
  };
}

export interface AgentStreams {
  logs: AgentLogStreams;
  terminals: AgentTerminals;
  lanes: NonNullable<Lanes["live"]>;
  close(): void;
}

/** The agent's side: `containerlog` and `terminal` events, run against `kc`. */
export function agentStreams(o: { kc: KubeConfig; channel: LiveChannel }): AgentStreams {
  const logs = new AgentLogStreams(o);
  const terminals = new AgentTerminals(o);
  return {
    logs,
    terminals,
    lanes: { [EventTargets.containerLog]: logs.handler, [EventTargets.terminal]: terminals.handler },
    close() {
      logs.close();
      terminals.close();
    },
  };
}
