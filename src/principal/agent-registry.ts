/**
 * The principal's view of connected agents: one live session per agent name.
 * A second connection from the same agent replaces the first (the old stream
 * is ended, the agent's event writer moves to the new stream), so events
 * queued for an agent survive its reconnects.
 */
import { EventWriter } from "../events/event-writer.ts";
import { getLogger } from "../observability/log.ts";

const log = getLogger("principal");

export type AgentMode = "managed" | "autonomous";

export interface AgentConnection {
  agent: string;
  mode: AgentMode;
  /** Distinguishes successive connections of one agent in logs. */
  connectionId: number;
  connectedAt: Date;
  /** Ends this connection's stream (used when a newer connection replaces it). */
  close(): void;
}

export interface AgentRecord {
  agent: string;
  mode: AgentMode;
  /** The agent's --namespace, from its AuthRequest. */
  agentNamespace?: string;
  writer: EventWriter;
  connection?: AgentConnection;
  reconnects: number;
}

export type RegistryListener = (event: "connected" | "disconnected", rec: AgentRecord) => void;

export class AgentRegistry {
  private readonly agents = new Map<string, AgentRecord>();
  private readonly listeners = new Set<RegistryListener>();
  private nextConnectionId = 1;

  on(fn: RegistryListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The record of an agent, created on first sight (its writer outlives connections). */
  record(agent: string, mode: AgentMode): AgentRecord {
    let rec = this.agents.get(agent);
    if (!rec) {
      rec = { agent, mode, writer: new EventWriter({ name: agent }), reconnects: 0 };
      this.agents.set(agent, rec);
    }
    rec.mode = mode;
    return rec;
  }

  get(agent: string): AgentRecord | undefined {
    return this.agents.get(agent);
  }

  setNamespace(agent: string, namespace: string | undefined): void {
    const rec = this.agents.get(agent);
    if (rec) rec.agentNamespace = namespace;
  }

  /** Registers a new connection; an existing one for the same agent is closed. */
  connect(agent: string, mode: AgentMode, close: () => void): { rec: AgentRecord; conn: AgentConnection } {
    const rec = this.record(agent, mode);
    const old = rec.connection;
    const conn: AgentConnection = { agent, mode, connectionId: this.nextConnectionId++, connectedAt: new Date(), close };
    rec.connection = conn;
    if (old) {
      rec.reconnects++;
      log.info("agent connected again; replacing its previous connection", { agent, connectionUUID: conn.connectionId, previous: old.connectionId });
      old.close();
    } else {
      log.info("agent connected", { agent, mode, connectionUUID: conn.connectionId });
    }
    for (const fn of this.listeners) fn("connected", rec);
    return { rec, conn };
  }

  /** Called when a connection's stream ended; ignored if a newer connection replaced it. */
  disconnect(conn: AgentConnection): void {
    const rec = this.agents.get(conn.agent);
    if (!rec || rec.connection !== conn) return;
    rec.connection = undefined;
    log.info("agent disconnected", { agent: conn.agent, connectionUUID: conn.connectionId });
    for (const fn of this.listeners) fn("disconnected", rec);
  }

  connected(): AgentRecord[] {
    return [...this.agents.values()].filter((r) => r.connection);
  }

  all(): AgentRecord[] {
    return [...this.agents.values()];
  }

  close(): void {
    for (const rec of this.agents.values()) {
      rec.connection?.close();
      rec.writer.close();
    }
  }
}
