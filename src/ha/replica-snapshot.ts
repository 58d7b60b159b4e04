/**
 * Applying a ReplicationSnapshot on the replica (operations.md §4.5): every
 * resource is written as the primary holds it (replica-writes.ts), then each
 * snapshot agent's local objects that the snapshot lacks are pruned, but
 * only those the primary confirms `deleted` through ConfirmMissingResources
 * (an object merely missing from one agent's list — a project that stopped
 * matching it, an event not yet seen — is never deleted on a guess; `exists`
 * answers carry the object and repair the local copy). Self-registered
 * cluster Secrets (`principal_resources`) are pruned the same way. Skipped,
 * not failed (seen against upstream's Go primary): resources without data, and
 * an agent's Applications this principal would not map to that agent.
 *
 * What counts as an agent's local objects: Applications agentForApp assigns
 * to it; AppProjects mirrored from it (source-uid, sourceNamespaces[0]) and,
 * for managed agents, the hub projects that match it; repository Secrets
 * whose project reaches it. Agents absent from the snapshot are not pruned
 * (as upstream). ApplicationSets are not replicated: our principal does not
 * watch them.
 */
import { getJson } from "../kube/raw-request.ts";
import { isUnanswered } from "../kube/reachability.ts";
import type { Application, AppProject, KubeObject, Secret } from "../kube/resources.ts";
import { getLogger } from "../observability/log.ts";
import type { AgentState, ConfirmMissingResourcesRequest, ConfirmMissingResourcesResponse, ReplicationSnapshot, Resource } from "../proto/gen/replication.ts";
import { errorText } from "../replication/kube-errors.ts";
import { objectFromPayload, sourceUidOf } from "../replication/objects.ts";
import { AGENT_NAME_LABEL, CLUSTER_SECRET_TYPE_LABEL } from "../replication/principal/cluster-secrets.ts";
import { agentForApp } from "../replication/principal/principal-context.ts";
import { projectMatchesAgent } from "../replication/principal/principal-projects.ts";
import { repoRecipients } from "../replication/principal/principal-repositories.ts";
import { isRepoSecret, repoProjectOf, REPO_SECRET_TYPES, SECRET_TYPE_LABEL } from "../replication/secret-objects.ts";
import { SELF_REGISTERED_LABEL } from "../registration/self-registration.ts";
import type { ReplicaWriter } from "./replica-writes.ts";
import { ResourceKinds } from "./snapshot.ts";

const log = getLogger("ha");


export interface SnapshotDeps {
  writer: ReplicaWriter;
  namespace: string;
  destinationBased: boolean;
  confirmMissing(req: ConfirmMissingResourcesRequest): Promise<ConfirmMissingResourcesResponse>;
}

export interface SnapshotApplyResult {
  agents: number;
  /** Resources written (or already equal). */
  applied: number;
  /** Resources that could not be applied (logged). */
  failed: number;
  /** Resources skipped: sent without data (upstream does so for objects it cannot read), or an agent's Application this principal would not map to that agent. */
  skipped: number;
  /** Local objects deleted after the primary confirmed their deletion. */
  pruned: number;
}

const resKey = (kind: string, ns: string | undefined, name: string | undefined): string => `${kind}/${ns ?? ""}/${name ?? ""}`;

/**
 * Writes every resource, then prunes. A resource that cannot be applied is
 * logged and counted; an API server that stays unreachable past the writer's
 * wait ends the whole apply with that error (the caller reconnects later).
 */
export async function applySnapshot(deps: SnapshotDeps, snap: ReplicationSnapshot): Promise<SnapshotApplyResult> {
  const result: SnapshotApplyResult = { agents: snap.agents.length, applied: 0, failed: 0, skipped: 0, pruned: 0 };
  const scope = { namespace: deps.namespace, destinationBased: deps.destinationBased };
  const all = [
    ...snap.agents.flatMap((a) => a.resources.map((res) => ({ res, agent: a.name as string | undefined }))),
    ...snap.principalResources.map((res) => ({ res, agent: undefined })),
  ];
  for (const { res, agent } of all) {
    if (res.data.length === 0) {
      // Upstream's primary lists every key it tracks and leaves data empty when it cannot read
      // the object (e.g. a key an agent's own copy put there): not an apply error, nothing to write.
      log.warn("snapshot resource without data; skipped", { kind: res.kind, resource: `${res.namespace}/${res.name}` });
      result.skipped++;
      continue;
    }
    if (agent !== undefined && res.kind === ResourceKinds.application) {
      // An agent's Application must be one this principal maps to that agent. Upstream replicas
      // upsert an autonomous agent's own copy as it came (namespace "argocd", in-cluster
      // destination) and list it under the agent: written here it would be a hub Application.
      const obj = decodeResource(res);
      if (typeof obj === "object" && agentForApp(scope, obj as Application) !== agent) {
        log.warn("snapshot Application not mapped to its agent here; skipped", { agent, resource: `${res.namespace}/${res.name}` });
        result.skipped++;
        continue;
      }
    }
    if (await guarded(res, () => applyResource(deps, res))) result.applied++;
    else result.failed++;
  }
  for (const agent of snap.agents) {
    const present = new Set(agent.resources.map((r) => resKey(r.kind, r.namespace, r.name)));
    const candidates = (await localObjectsOf(deps, agent)).filter((r) => !present.has(resKey(r.kind, r.namespace, r.name)));
    result.pruned += await confirmAndPrune(deps, snap, agent.name, candidates);
  }
  const clusterKeys = new Set(snap.principalResources.map((r) => resKey(r.kind, r.namespace, r.name)));
  const byAgent = new Map<string, Resource[]>();
  for (const s of await listSecrets(deps, `${CLUSTER_SECRET_TYPE_LABEL}=cluster,${SELF_REGISTERED_LABEL}=true`)) {
    const r = resourceOf(ResourceKinds.clusterSecret, s);
    if (clusterKeys.has(resKey(r.kind, r.namespace, r.name))) continue;
    const agent = s.metadata.labels?.[AGENT_NAME_LABEL] ?? "";
    byAgent.set(agent, [...(byAgent.get(agent) ?? []), r]);
  }
  for (const [agent, candidates] of byAgent) result.pruned += await confirmAndPrune(deps, snap, agent, candidates);
  return result;
}

/** Runs one resource's write; false when it failed for good (an unreachable API server is rethrown). */
async function guarded(res: Resource, write: () => Promise<boolean>): Promise<boolean> {
  try {
    return await write();
  } catch (err) {
    if (isUnanswered(err)) throw err;
    log.error("could not apply snapshot resource", { kind: res.kind, resource: `${res.namespace}/${res.name}`, error: errorText(err) });
    return false;
  }
}

/** Writes one resource as the primary holds it; false for what cannot be applied. */
async function applyResource(deps: SnapshotDeps, res: Resource): Promise<boolean> {
  const w = deps.writer;
  if (res.kind === ResourceKinds.applicationSet) {
    log.debug("ApplicationSets are not replicated", { resource: `${res.namespace}/${res.name}` });
    return true;
  }
  const obj = decodeResource(res);
  if (typeof obj === "string") {
    log.warn("snapshot resource rejected", { kind: res.kind, resource: `${res.namespace}/${res.name}`, reason: obj });
    return false;
  }
  switch (res.kind) {
    case ResourceKinds.application:
      await w.upsertApp(obj as Application);
      return true;
    case ResourceKinds.appProject:
      await w.upsertProject(obj as AppProject);
      return true;
    case ResourceKinds.repository:
    case ResourceKinds.clusterSecret:
      await w.upsertSecret(obj as Secret);
      return true;
    default:
      log.warn("snapshot resource of an unknown kind", { kind: res.kind, resource: `${res.namespace}/${res.name}` });
      return false;
  }
}

/** The object in `data`, checked like an event payload; a string says why it is unusable. */
export function decodeResource(res: Resource): KubeObject | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(res.data).toString("utf8"));
  } catch (err) {
    return `data is not JSON: ${(err as Error).message}`;
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return "data is not a JSON object";
  const needSpec = res.kind === ResourceKinds.application || res.kind === ResourceKinds.appProject;
  const checked = objectFromPayload<KubeObject>(parsed as Record<string, unknown>, needSpec);
  if (!checked.ok) return checked.error;
  const md = checked.obj.metadata;
  if (md.name !== res.name || (md.namespace || res.namespace) !== res.namespace || !res.namespace) return `data names ${md.namespace}/${md.name}, resource ${res.namespace}/${res.name}`;
  return { ...checked.obj, metadata: { ...md, namespace: res.namespace } };
}

const resourceOf = (kind: string, o: KubeObject): Resource => ({
  name: o.metadata.name ?? "",
  namespace: o.metadata.namespace ?? "",
  kind,
  uid: "",
  specChecksum: Buffer.alloc(0),
  data: Buffer.alloc(0),
});

/** This cluster's objects that belong to a snapshot agent (see the file comment). */
async function localObjectsOf(deps: SnapshotDeps, agent: AgentState): Promise<Resource[]> {
  const w = deps.writer;
  const out: Resource[] = [];
  const scope = { namespace: deps.namespace, destinationBased: deps.destinationBased };
  const apps = (await w.retrying("list Applications", () => w.apps.list(deps.destinationBased ? undefined : agent.name))).items;
  for (const a of apps) if (agentForApp(scope, a) === agent.name) out.push(resourceOf(ResourceKinds.application, a));
  const projects = (await w.retrying("list AppProjects", () => w.projects.list(deps.namespace))).items;
  const managed = agent.mode === "managed";
  for (const p of projects) {
    const mirrorOfAgent = Boolean(sourceUidOf(p)) && (p.spec["sourceNamespaces"] as unknown[] | undefined)?.[0] === agent.name;
    const hubProjectOfAgent = managed && !sourceUidOf(p) && projectMatchesAgent(p, agent.name, deps.destinationBased);
    if (mirrorOfAgent || hubProjectOfAgent) out.push(resourceOf(ResourceKinds.appProject, p));
  }
  if (managed) {
    const byName = new Map(projects.map((p) => [p.metadata.name, p]));
    for (const s of await listSecrets(deps, `${SECRET_TYPE_LABEL} in (${REPO_SECRET_TYPES.join(",")})`)) {
      if (isRepoSecret(s) && repoRecipients(byName.get(repoProjectOf(s)), [agent.name], deps.destinationBased).has(agent.name)) out.push(resourceOf(ResourceKinds.repository, s));
    }
  }
  return out;
}

async function listSecrets(deps: SnapshotDeps, labelSelector: string): Promise<Secret[]> {
  const w = deps.writer;
  const path = `/api/v1/namespaces/${encodeURIComponent(deps.namespace)}/secrets`;
  const list = await w.retrying("list Secrets", () => getJson<{ items?: Secret[] }>(w.kube.kubeConfig, path, { labelSelector }));
  return list.items ?? [];
}

/** Asks the primary about `candidates`; deletes the confirmed deletions, repairs from `exists` answers. */
async function confirmAndPrune(deps: SnapshotDeps, snap: ReplicationSnapshot, agentName: string, candidates: Resource[]): Promise<number> {
  if (candidates.length === 0) return 0;
  let answer: ConfirmMissingResourcesResponse;
  try {
    answer = await deps.confirmMissing({ agentName, snapshotSequenceNum: snap.lastSequenceNum, resources: candidates });
  } catch (err) {
    log.warn("could not confirm missing resources with the primary; not pruning them now", { agent: agentName, count: candidates.length, error: String((err as Error).message ?? err) });
    return 0;
  }
  const asked = new Set(candidates.map((r) => resKey(r.kind, r.namespace, r.name)));
  let pruned = 0;
  for (const { resource: r, status, reason } of answer.results) {
    if (!r || !asked.has(resKey(r.kind, r.namespace, r.name))) continue;
    const what = `${r.kind} ${r.namespace}/${r.name}`;
    if (status === "deleted") {
      if (await guarded(r, () => deleteLocal(deps.writer, r))) {
        pruned++;
        log.info("pruned an object the primary deleted", { agent: agentName, object: what });
      }
    } else if (status === "exists" && r.data.length > 0) {
      await guarded(r, () => applyResource(deps, r));
    } else log.debug("missing resource not confirmed deleted; kept", { agent: agentName, object: what, status, reason });
  }
  return pruned;
}

async function deleteLocal(w: ReplicaWriter, r: Resource): Promise<boolean> {
  switch (r.kind) {
    case ResourceKinds.application:
      return w.deleteApp(r.namespace, r.name);
    case ResourceKinds.appProject:
      return w.deleteProject(r.namespace, r.name);
    case ResourceKinds.repository:
    case ResourceKinds.clusterSecret:
      return w.deleteSecret(r.namespace, r.name);
    default:
      return false;
  }
}
