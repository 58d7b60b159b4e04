/**
 * `argocd-agent ctl` (also `argocd-agentctl`): the operator CLI, as upstream's
 * argocd-agentctl (operations.md §1). The global flags choose the
 * control-plane (principal) and workload (agent) clusters, directly or by
 * symbolic names from the config file (config-file.ts); each command tree
 * registers itself from its own file (`pki-commands.ts`, `agent-commands.ts`,
 * …) and talks to Kubernetes only through the kube layer.
 *
 * @example
 *   argocd-agent ctl --principal-context hub pki init
 *   argocd-agent ctl --principal-context hub pki issue resource-proxy --dns argocd-agent-resource-proxy
 *   argocd-agent ctl --principal-context hub agent create prod-1 --resource-proxy-server argocd-agent-resource-proxy:9090
 *   argocd-agent ctl --principal hub --agent prod-1 validate agent
 *   argocd-agent ctl --principal-context region-b ha promote
 */
import { Command, Option } from "commander";
import { registerAgentCommands } from "./agent-commands.ts";
import { defaultConfigPath } from "./config-file.ts";
import { registerConfigCommands } from "./config-commands.ts";
import { registerValidateCommands } from "./validate-commands.ts";
import { registerPkiCommands } from "./pki-commands.ts";
import { registerJwtCommands } from "./jwt-commands.ts";
import { registerHaCommands } from "./ha-commands.ts";

export { CtlError, type CtlContext, type CtlGlobals } from "./ctl-context.ts";

export function ctlCommand(out: (s: string) => void): Command {
  const ctl = new Command("ctl")
    .description("Operator CLI (also installed as argocd-agentctl): PKI, agent cluster secrets, checks and principal HA")
    .addOption(new Option("--principal-context <context>", "kubeconfig context of the control-plane cluster").env("ARGOCD_AGENT_PRINCIPAL_CONTEXT").default(""))
    .addOption(new Option("--principal-namespace <ns>", "namespace of the principal").env("ARGOCD_AGENT_PRINCIPAL_NAMESPACE").default("argocd"))
    .addOption(new Option("--agent-context <context>", "kubeconfig context of the workload cluster").env("ARGOCD_AGENT_AGENT_CONTEXT").default(""))
    .addOption(new Option("--agent-namespace <ns>", "namespace of the agent").env("ARGOCD_AGENT_AGENT_NAMESPACE").default("argocd"))
    .addOption(new Option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"))
    .addOption(new Option("--principal <name>", "symbolic name of a principal in the config file (instead of --principal-context/--principal-namespace)"))
    .addOption(new Option("--agent <name>", "symbolic name of an agent in the config file (instead of --agent-context/--agent-namespace)"))
    .addOption(new Option("--config <path>", "ctl config file").default(defaultConfigPath(), "$HOME/.config/argocd-agent/ctl.conf"));

  registerPkiCommands(ctl, out);
  registerJwtCommands(ctl, out);
  registerAgentCommands(ctl, out);
  registerValidateCommands(ctl, out);
  registerConfigCommands(ctl, out);
  registerHaCommands(ctl, out);
  return ctl;
}
