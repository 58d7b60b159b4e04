/**
 * `argocd-agent principal`: validates its settings, then serves until the
 * signal aborts.
 */
import { StartupError } from "../cli/component-command.ts";
import { getLogger } from "../observability/log.ts";
import { startHealthServer } from "../observability/health.ts";
import type { SettingValues } from "../settings/types.ts";
import type { PRINCIPAL_SETTINGS } from "../settings/principal-settings.ts";

export type PrincipalSettings = SettingValues<typeof PRINCIPAL_SETTINGS>;

export async function runPrincipal(cfg: PrincipalSettings, signal: AbortSignal): Promise<void> {
  const log = getLogger("principal");
  if (cfg.namespace === "") {
    throw new StartupError("namespace is required for principal identity: set --namespace (env ARGOCD_PRINCIPAL_NAMESPACE)");
  }
  const health = cfg.healthzPort ? await startHealthServer({ port: cfg.healthzPort, ready: () => undefined }) : undefined;
  log.info("principal started", { namespace: cfg.namespace });
  await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  await health?.close();
  log.info("principal stopped");
}
