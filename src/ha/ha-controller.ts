/**
 * Drives one principal's HA role (operations.md §4.3): the start role
 * (primary → active without asking the peer; replica → syncing and follow
 * the peer), and the operator's promote/demote with upstream's rules. There
 * are no leases or elections: every change after start is an operator call.
 *
 * - promote(force): refused when already active, when not replicating or
 *   disconnected (a replica that never completed a snapshot stays `syncing`),
 *   and when replicating unless forced (the peer is still reachable). The
 *   replica client is stopped first, then → active, failovers_total++.
 * - Whenever it becomes active (start as primary, promotion), `onActive` lets
 *   replication catch up with what it held back while not active.
 * - demote(): only from active → replicating, failbacks_total++, every agent
 *   stream is disconnected (agents move to the new active principal), replica
 *   streams are ended and the replica client starts following the peer.
 * Refusals are HaPreconditionError (gRPC FAILED_PRECONDITION at the admin API).
 *
 * @example
 *   const ctl = new HaController({ preferredRole: "replica", peerAddress, state, metrics, forwarder, agents, startReplica });
 *   ctl.start();                  // syncing
 *   await ctl.promote(true);      // active (after the stream came up once)
 */
import { getLogger } from "../observability/log.ts";
import type { HAStatusResponse } from "../proto/gen/haadmin.ts";
import type { Forwarder } from "./forwarder.ts";
import type { HaState, HaStateMachine } from "./ha-state.ts";
import type { ReplicaClient } from "./replica-client.ts";

const log = getLogger("ha");

export type HaRole = "primary" | "replica";

/** A promote or demote that the current state does not allow. */
export class HaPreconditionError extends Error {
  override name = "HaPreconditionError";
}

export interface HaAgents {
  /** Agents with a live event stream. */
  connectedCount(): number;
  /** Ends every agent stream (they reconnect, to whichever principal is active). */
  disconnectAll(): void;
}

export interface HaControllerOptions {
  preferredRole: HaRole;
  peerAddress: string;
  state: HaStateMachine;
  metrics: { failover(): void; failback(): void };
  forwarder: Forwarder;
  agents: HaAgents;
  /**
   * Starts following the peer; absent when this principal cannot (no
   * --ha-peer-address, or no Kubernetes to write to).
   */
  startReplica?: (onStreamState: (up: boolean) => void) => ReplicaClient;
  /** After → active (start or promotion): replication acts on what it held back while not active. */
  onActive?: () => void;
}

export class HaController {
  private readonly opts: HaControllerOptions;
  private replica: ReplicaClient | undefined;
  /** Promote and demote one at a time. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(opts: HaControllerOptions) {
    this.opts = opts;
  }

  state(): HaState {
    return this.opts.state.state();
  }

  /** Agents' Subscribe, informer events for agents and replica streams: only while active. */
  accepting(): boolean {
    return this.opts.state.isActive();
  }

  /** Takes the preferred role. */
  start(): void {
    if (this.opts.preferredRole === "primary") {
      this.opts.state.transition("active", "preferred role primary");
      this.activated();
      return;
    }
    this.opts.state.transition("syncing", "preferred role replica");
    this.followPeer();
  }

  promote(force: boolean): Promise<HaState> {
    return this.serialized(async () => {
      const s = this.state();
      if (s === "active") throw new HaPreconditionError("already active");
      if (s !== "replicating" && s !== "disconnected") throw new HaPreconditionError(`cannot promote from state ${s}: only a replicating or disconnected principal can be promoted`);
      if (s === "replicating" && !force) {
        throw new HaPreconditionError("the peer is reachable (state replicating): demote it first, or promote with force if it must be replaced");
      }
      await this.stopReplica();
      if (!this.opts.state.transition("active", force ? "promoted (forced)" : "promoted")) {
        throw new HaPreconditionError(`cannot promote from state ${this.state()}`);
      }
      this.opts.metrics.failover();
      this.activated();
      log.info("principal promoted to active", { force });
      return this.state();
    });
  }

  demote(): Promise<HaState> {
    return this.serialized(async () => {
      const s = this.state();
      if (s !== "active") throw new HaPreconditionError(`cannot demote from state ${s}: only an active principal can be demoted`);
      this.opts.state.transition("replicating", "demoted");
      this.opts.metrics.failback();
      const agents = this.opts.agents.connectedCount();
      this.opts.agents.disconnectAll();
      this.opts.forwarder.stop("this principal was demoted");
      log.info("principal demoted; agent streams disconnected", { agents });
      this.followPeer();
      return this.state();
    });
  }

  status(): HAStatusResponse {
    const s = this.state();
    const active = s === "active";
    return {
      state: s,
      preferredRole: this.opts.preferredRole,
      peerAddress: this.opts.peerAddress,
      peerReachable: s === "replicating",
      peerState: "",
      connectedReplicas: this.opts.forwarder.connectedReplicas(),
      lastEventTimestamp: String(active ? this.opts.forwarder.lastEventUnix() : (this.replica?.lastEventUnix() ?? 0)),
      lastSequenceNum: String(active ? this.opts.forwarder.lastSequence() : (this.replica?.lastSequence() ?? 0)),
      connectedAgents: this.opts.agents.connectedCount(),
    };
  }

  async stop(): Promise<void> {
    await this.chain.catch(() => undefined);
    this.opts.forwarder.stop("principal shutting down");
    await this.stopReplica();
  }

  private activated(): void {
    try {
      this.opts.onActive?.();
    } catch (err) {
      log.error("catching up after becoming active failed", { error: err as Error });
    }
  }

  private followPeer(): void {
    if (!this.opts.startReplica) {
      log.warn("not following a peer: this principal has no --ha-peer-address or no Kubernetes to write to", { state: this.state() });
      return;
    }
    // Reports of a client that was replaced or stopped meanwhile are ignored.
    let client: ReplicaClient | undefined;
    client = this.opts.startReplica((up) => {
      if (this.replica === client) this.onStreamState(up);
    });
    this.replica = client;
    log.info("following the peer", { peer: this.opts.peerAddress });
  }

  private onStreamState(up: boolean): void {
    const s = this.state();
    if (up && (s === "syncing" || s === "disconnected" || s === "recovering")) this.opts.state.transition("replicating", "replication stream up");
    else if (!up && s === "replicating") this.opts.state.transition("disconnected", "replication stream lost");
  }

  private async stopReplica(): Promise<void> {
    const r = this.replica;
    this.replica = undefined;
    if (r) await r.stop();
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
