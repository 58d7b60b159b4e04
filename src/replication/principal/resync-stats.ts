/**
 * Counters of resync activity on the principal, read by the metrics at scrape
 * time: runs started per agent, and what each resync request led to.
 */
export type ResyncResult =
  | "in-sync" | "updated" | "deleted" | "list-sent" | "list-in-sync"
  /** A resync start skipped: a round with the agent was running, or just ran on its connection. */
  | "skipped-running"
  /** A response-synced-resource for an object already asked about in the round. */
  | "already-requested";

export const resyncStats = {
  /** Resync runs started, by agent. */
  runs: new Map<string, number>(),
  /** Outcomes of resync requests, by agent and result. */
  results: new Map<string, Map<ResyncResult, number>>(),
};

export function countResyncRun(agent: string): void {
  resyncStats.runs.set(agent, (resyncStats.runs.get(agent) ?? 0) + 1);
}

export function countResyncResult(agent: string, result: ResyncResult): void {
  let m = resyncStats.results.get(agent);
  if (!m) resyncStats.results.set(agent, (m = new Map()));
  m.set(result, (m.get(result) ?? 0) + 1);
}
