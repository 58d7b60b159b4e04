/**
 * Self cluster registration (operations.md §2): during Authenticate, after the
 * agent is authenticated and before its tokens are issued, make sure Argo CD
 * has a cluster Secret `cluster-<agent>` for it. Absent → create one
 * (self-registered label, `server` through the resource proxy, a
 * resource-proxy bearer token naming the agent, the shared client
 * certificate). A manual Secret (no self-registered label) is never touched.
 * A self-registered one gets a new token when its token no longer validates
 * (signing key rotated, other agent, garbage) and the shared PEMs when they
 * changed; nothing else in it is rewritten. Any failure throws, and the
 * caller refuses the agent, which retries with its connect backoff.
 *
 * @example
 *   const reg = new SelfRegistration({ kube, issuer, namespace: "argocd",
 *     resourceProxyAddress: "argocd-agent-resource-proxy:9090", clientCertSecret: "argocd-agent-self-registration-tls" });
 *   await reg.register("agent-1"); // "created" | "updated" | "unchanged" | "manual"
 */
import type { V1Secret } from "@kubernetes/client-node";
import type { JwtIssuer } from "../auth/jwt-issuer.ts";
import { clusterSecret } from "../ctl/cluster-secret.ts";
import type { KubeClient } from "../kube/client.ts";
import { isAlreadyExists, isConflict, isNotFound, retryOnConflict } from "../kube/crud.ts";
import { getLogger } from "../observability/log.ts";
import { readClusterConfig, sameBytes, writeClusterConfig, type ClusterCredentials } from "./cluster-config.ts";
import { readSharedClientCert, RegistrationError } from "./shared-client-cert.ts";
import { secrets } from "../kube/core-objects.ts";
import type { Secret } from "../kube/resources.ts";

const log = getLogger("registration");

/** Marks a cluster Secret the principal created and may update (upstream's label). */
export const SELF_REGISTERED_LABEL = "argocd-agent.argoproj-labs.io/self-registered-cluster";

export type RegistrationOutcome = "created" | "updated" | "unchanged" | "manual";

export interface SelfRegistrationOptions {
  kube: KubeClient;
  issuer: Pick<JwtIssuer, "issueResourceProxyToken" | "validateResourceProxyToken">;
  /** The principal namespace: where cluster Secrets and the shared Secret live. */
  namespace: string;
  /** `host:port` of the resource proxy as Argo CD reaches it (`--resource-proxy-address`). */
  resourceProxyAddress: string;
  /** Name of the Secret with the shared client certificate (`--self-registration-client-cert-secret`). */
  clientCertSecret: string;
  /** Bound on one registration, Kubernetes calls included (default 15 s). */
  timeoutMs?: number;
}

export function isSelfRegistered(secret: V1Secret): boolean {
  return secret.metadata?.labels?.[SELF_REGISTERED_LABEL] === "true";
}

export class SelfRegistration {
  private readonly o: SelfRegistrationOptions;

  constructor(opts: SelfRegistrationOptions) {
    this.o = opts;
  }

  /** Creates or refreshes `cluster-<agent>`; throws RegistrationError (or the API error) when it cannot. */
  async register(agent: string): Promise<RegistrationOutcome> {
    const timeoutMs = this.o.timeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RegistrationError(`timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      // Two connects of one agent at once: the loser's update conflicts and runs again.
      return await Promise.race([retryOnConflict(() => this.once(agent)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async once(agent: string): Promise<RegistrationOutcome> {
    const { kube, namespace } = this.o;
    const name = `cluster-${agent}`;
    let existing: V1Secret | undefined;
    try {
      existing = (await secrets(kube).get(namespace, name)) as V1Secret | undefined;
    } catch (err) {
      if (!isNotFound(err)) throw new RegistrationError(`cannot read Secret ${namespace}/${name}: ${(err as Error).message}`, { cause: err });
    }
    if (!existing) return this.create(agent);
    if (!isSelfRegistered(existing)) {
      log.debug("cluster secret was not self-registered; leaving it alone", { agent, secret: name });
      return "manual";
    }
    return this.refresh(agent, existing);
  }

  private async create(agent: string): Promise<RegistrationOutcome> {
    const { kube, namespace } = this.o;
    const shared = await readSharedClientCert(kube, namespace, this.o.clientCertSecret);
    const body = clusterSecret({
      agent,
      namespace,
      resourceProxy: this.o.resourceProxyAddress,
      certPem: shared.cert.toString("utf8"),
      keyPem: shared.key.toString("utf8"),
      caPem: shared.ca.toString("utf8"),
      labels: { [SELF_REGISTERED_LABEL]: "true" },
      bearerToken: await this.o.issuer.issueResourceProxyToken(agent),
    });
    try {
      await secrets(kube).create(body as Secret);
    } catch (err) {
      // Another connect of the same agent created it first: that one is as good (as upstream).
      if (isAlreadyExists(err)) return "unchanged";
      throw new RegistrationError(`cannot create Secret ${namespace}/${body.metadata!.name}: ${(err as Error).message}`, { cause: err });
    }
    log.info("created self-registered cluster secret", { agent, secret: body.metadata!.name });
    return "created";
  }

  private async refresh(agent: string, secret: V1Secret): Promise<RegistrationOutcome> {
    const { kube, namespace } = this.o;
    const name = secret.metadata!.name!;
    const stored = readClusterConfig(secret);
    const shared = await readSharedClientCert(kube, namespace, this.o.clientCertSecret);
    const set: ClusterCredentials = {};
    const why: string[] = [];
    if (stored.problem) log.warn("self-registered cluster secret has an unusable config; rewriting it", { agent, secret: name, problem: stored.problem });
    const tokenProblem = await this.tokenProblem(agent, stored.bearerToken);
    if (tokenProblem) {
      set.bearerToken = await this.o.issuer.issueResourceProxyToken(agent);
      why.push(`bearer token (${tokenProblem})`);
    }
    if (!sameBytes(stored.certData, shared.cert) || !sameBytes(stored.keyData, shared.key) || !sameBytes(stored.caData, shared.ca)) {
      Object.assign(set, { certData: shared.cert, keyData: shared.key, caData: shared.ca });
      why.push("client certificate");
    }
    if (why.length === 0) return "unchanged";
    const config = Buffer.from(writeClusterConfig(stored.raw, set)).toString("base64");
    const body: V1Secret = { ...secret, data: { ...secret.data, config } };
    try {
      await secrets(kube).update(body as Secret);
    } catch (err) {
      if (isConflict(err)) throw err; // retryOnConflict reads it again
      throw new RegistrationError(`cannot update Secret ${namespace}/${name}: ${(err as Error).message}`, { cause: err });
    }
    log.info("updated self-registered cluster secret", { agent, secret: name, updated: why.join(", ") });
    return "updated";
  }

  /** Why the stored token cannot stay, or undefined when it is a valid resource-proxy token for this agent. */
  private async tokenProblem(agent: string, token: string | undefined): Promise<string | undefined> {
    if (!token) return "missing";
    try {
      const sub = await this.o.issuer.validateResourceProxyToken(token);
      return sub === agent ? undefined : `issued for "${sub}"`;
    } catch (err) {
      return (err as Error).message;
    }
  }
}
