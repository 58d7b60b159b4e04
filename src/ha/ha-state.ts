/**
 * The HA state of one principal (operations.md §4.3): `recovering` at start,
 * `active` while it serves agents, `syncing` / `replicating` / `disconnected`
 * while it follows its peer. Only upstream's transitions are allowed; any other
 * request is logged and ignored (the state stays). Listeners hear every change
 * (metrics, health); only `active` accepts agents.
 *
 * @example
 *   const ha = new HaStateMachine();
 *   ha.on((from, to) => log.info("HA state", { from, to }));
 *   ha.transition("active", "preferred role primary"); // true
 *   ha.transition("syncing", "test");                  // false: active → syncing is not allowed
 */
import { getLogger } from "../observability/log.ts";

const log = getLogger("ha");

export const HA_STATES = ["recovering", "syncing", "replicating", "disconnected", "active"] as const;
export type HaState = (typeof HA_STATES)[number];

/** Upstream's allowed transitions (pkg/ha/state.go); anything else is refused. */
const ALLOWED: Readonly<Record<HaState, readonly HaState[]>> = {
  recovering: ["active", "syncing", "replicating", "disconnected"],
  syncing: ["replicating"],
  replicating: ["disconnected", "active"],
  disconnected: ["replicating", "active"],
  active: ["replicating"],
};

/** True when `from → to` is one of the allowed transitions. */
export function transitionAllowed(from: HaState, to: HaState): boolean {
  return ALLOWED[from].includes(to);
}

export type HaStateListener = (from: HaState, to: HaState, reason: string) => void;

export class HaStateMachine {
  private current: HaState = "recovering";
  private readonly listeners = new Set<HaStateListener>();

  state(): HaState {
    return this.current;
  }

  /** Only an active principal accepts agents and queues events for them. */
  isActive(): boolean {
    return this.current === "active";
  }

  on(fn: HaStateListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Moves to `to` when allowed and returns true; a refused transition is
   * logged and returns false. Moving to the current state is a no-op (true).
   */
  transition(to: HaState, reason: string): boolean {
    const from = this.current;
    if (from === to) return true;
    if (!transitionAllowed(from, to)) {
      log.warn("HA state transition refused", { from, to, reason });
      return false;
    }
    this.current = to;
    log.info("HA state changed", { from, to, reason });
    for (const fn of this.listeners) {
      try {
        fn(from, to, reason);
      } catch (err) {
        log.error("HA state listener failed", { from, to, error: err as Error });
      }
    }
    return true;
  }
}
