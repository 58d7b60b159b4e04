/**
 * `argocd-agent agent`: validates its settings, then runs until the signal aborts.
 */
import { StartupError } from "../cli/component-command.ts";
import { getLogger } from "../observability/log.ts";
import { startHealthServer } from "../observability/health.ts";
import type { SettingValues } from "../settings/types.ts";
import type { AGENT_SETTINGS } from "../settings/agent-settings.ts";

export type AgentSettings = SettingValues<typeof AGENT_SETTINGS>;

export async function runAgent(cfg: AgentSettings, signal: AbortSignal): Promise<void> {
  const log = getLogger("agent");
  if (cfg.serverAddress === "") {
    throw new StartupError("no remote specified: set --server-address (env ARGOCD_AGENT_REMOTE_SERVER)");
  }
  if (cfg.namespace === "") {
    throw new StartupError("namespace must not be empty: set --namespace (env ARGOCD_AGENT_NAMESPACE)");
  }
  const health = cfg.healthzPort ? await startHealthServer({ port: cfg.healthzPort, ready: () => "not connected" }) : undefined;
  log.info("agent started", { mode: cfg.agentMode, server: `${cfg.serverAddress}:${cfg.serverPort}` });
  await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  await health?.close();
  log.info("agent stopped");
}
