/**
 * `ctl validate agent`: read-only checks of an agent's namespace, cross-checked
 * against its principal (operations.md §1.6), in upstream's order and with its
 * check names. The agent's CA bundle must hold certificates; its client
 * certificate must be valid now, name (CN) a namespace that exists on the
 * principal's cluster and be signed by the principal's CA; redis must admit
 * the agent; the Argo CD components must fit a workload cluster.
 *
 * @example
 *   const results = await agentChecks(agentKube, "argocd", principalKube, "argocd");
 */
import { X509Certificate } from "node:crypto";
import type { TypedKubeClient as KubeClient } from "../kube/typed-apis.ts";
import { isNotFound } from "../kube/crud.ts";
import {
  agentSecretNames, apiMessage, certFromTlsSecret, check, commonName, field, getSecret, principalSecretNames, validityProblem, type CheckResult,
} from "./validate-support.ts";
import { AGENT_COMPONENTS, componentsProblem, redisNetworkPolicyProblem } from "./validate-workloads.ts";

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

async function caBundleProblem(kube: KubeClient, ns: string, name: string): Promise<string | undefined> {
  const s = await getSecret(kube, ns, name);
  if (!s) return `could not read secret ${ns}/${name}: secret not found`;
  if (!Object.keys(s.data ?? {}).length) return `${ns}/${name}: empty secret`;
  if (!s.data?.["ca.crt"]) return `${ns}/${name}: missing ca.crt field`;
  const blocks = field(s, "ca.crt").match(PEM_CERT) ?? [];
  try {
    if (!blocks.length) throw new Error("no PEM certificate");
    for (const b of blocks) new X509Certificate(b);
  } catch (err) {
    return `${ns}/${name}: field ca.crt does not hold valid certificate data (${(err as Error).message})`;
  }
  return undefined;
}

async function cnNamespaceProblem(agentKube: KubeClient, ns: string, tlsSecret: string, principalKube: KubeClient): Promise<string | undefined> {
  const cn = commonName(await certFromTlsSecret(agentKube, ns, tlsSecret));
  if (!cn) return "agent certificate subject (CN) is empty";
  try {
    await principalKube.core.readNamespace({ name: cn });
  } catch (err) {
    return isNotFound(err) ? `namespace '${cn}' not found on principal cluster` : apiMessage(err);
  }
  return undefined;
}

async function signedByCaProblem(agentKube: KubeClient, ns: string, tlsSecret: string, principalKube: KubeClient, pns: string, caSecret: string): Promise<string | undefined> {
  const cert = await certFromTlsSecret(agentKube, ns, tlsSecret);
  const ca = await certFromTlsSecret(principalKube, pns, caSecret);
  if (!ca.ca) return "agent certificate not signed by principal CA: the principal's CA certificate is not a CA";
  return cert.checkIssued(ca) && cert.verify(ca.publicKey) ? undefined : `agent certificate not signed by principal CA (${pns}/${caSecret})`;
}

export async function agentChecks(agentKube: KubeClient, ns: string, principalKube: KubeClient, pns: string): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const agent = await agentSecretNames(agentKube, ns);
  if (agent.problems.length) out.push({ name: "Reading agent secret names from ArgoCD CR", error: agent.problems.join("\n") });
  const principal = await principalSecretNames(principalKube, pns);
  if (principal.problems.length) out.push({ name: "Reading principal secret names from ArgoCD CR", error: principal.problems.join("\n") });
  const { ca, clientTls } = agent.names;
  out.push(await check(`Verifying agent CA secret exists and contains CA cert (${ns}/${ca})`, () => caBundleProblem(agentKube, ns, ca)));
  out.push(await check(`Verifying agent mTLS certificate exists and is not expired (${ns}/${clientTls})`, async () =>
    validityProblem(await certFromTlsSecret(agentKube, ns, clientTls), "agent certificate")));
  out.push(await check("Verifying namespace on principal matches agent certificate subject", () => cnNamespaceProblem(agentKube, ns, clientTls, principalKube)));
  out.push(await check("Verifying agent mTLS certificate is signed by principal CA certificate", () =>
    signedByCaProblem(agentKube, ns, clientTls, principalKube, pns, principal.names.ca)));
  out.push(await check("Verifying Argo CD network policy allows for ingress from agent", () => redisNetworkPolicyProblem(agentKube, ns, "agent")));
  out.push(await check("Verifying deployed Argo CD components on agent", () => componentsProblem(agentKube, ns, AGENT_COMPONENTS)));
  return out;
}
