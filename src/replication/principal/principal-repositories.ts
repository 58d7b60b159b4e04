/**
 * Repository and repo-creds Secrets on the principal (operations.md §3.2):
 * project-scoped secrets in the principal namespace go to exactly the managed
 * agents their AppProject (`data.project`) reaches, by the same rules as
 * AppProject distribution (`projectMatchesAgent`). The principal remembers
 * which agents were given each secret, so a project change or deletion, or a
 * secret moving to another project, deletes it from the agents that lost it
 * and sends it to those that gained it. Autonomous agents get nothing.
 *
 * Resync: a `request-update` for a secret that is gone or no longer reaches
 * the agent is answered with `delete`, one whose data differs with
 * `spec-update` (upstream answers both with "unknown resource Kind").
 *
 * @example
 *   const repos = new PrincipalRepositories(ctx, "");   // --label-selector ""
 *   void repos.informer.run(signal);
 *   repos.sendCurrentState("agent-a");                   // on a managed agent's connect
 */
import { EventTargets, EventTypes, ResyncKinds, type EventType } from "../../events/event-types.ts";
import { checksumsEqual, type RequestUpdate, type ResourceKey } from "../../events/resync.ts";
import { secretInformer, type Informer } from "../../kube/informer.ts";
import type { AppProject, Secret } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";
import type { AgentRecord } from "../../principal/agent-registry.ts";
import type { WriteCounts } from "../../kube/crud.ts";
import { same, sourceUidOf } from "../objects.ts";
import { dataChecksum, isRepoSecret, recipientChanges, repoProjectOf, repoSecretSelector } from "../secret-objects.ts";
import { objectUpdatePending, principalEvent, sendTo, type PrincipalContext } from "./principal-context.ts";
import { dataKeyOf, managedAgents, type PrincipalDataKind } from "./principal-data-kinds.ts";
import { projectMatchesAgent } from "./principal-projects.ts";

const log = getLogger("replication");
const KIND = ResyncKinds.repository;

/**
 * The managed agents a repository secret of `project` goes to: none when the
 * project is missing or is an autonomous agent's mirror (source-uid);
 * otherwise every candidate the project matches.
 */
export function repoRecipients(project: AppProject | undefined, candidates: readonly string[], destinationBased: boolean): Set<string> {
  if (!project || sourceUidOf(project)) return new Set();
  return new Set(candidates.filter((a) => projectMatchesAgent(project, a, destinationBased)));
}

/** What travels: the secret without managedFields (noise the agent never reads). */
function payloadOf(s: Secret): Secret {
  const { managedFields: _mf, ...metadata } = s.metadata;
  return { ...s, metadata };
}

/** Did anything the agent's copy holds change (data, type, labels, annotations)? */
const contentChanged = (a: Secret, b: Secret): boolean =>
  !same(a.data, b.data) || a.type !== b.type || !same(a.metadata.labels, b.metadata.labels) || !same(a.metadata.annotations, b.metadata.annotations);

export class PrincipalRepositories implements PrincipalDataKind {
  readonly kind = KIND;
  readonly informer: Informer<Secret>;
  /** Informer events seen (upstream principal_repositories_{created,updated,deleted}). */
  readonly events: WriteCounts = { created: 0, updated: 0, deleted: 0 };
  private readonly ctx: PrincipalContext;
  /** Secret name → agents that were sent it (upstream repoToAgents). */
  private readonly holders = new Map<string, Set<string>>();

  constructor(ctx: PrincipalContext, userLabelSelector: string) {
    this.ctx = ctx;
    this.informer = secretInformer(ctx.kube, { namespace: ctx.namespace, labelSelector: repoSecretSelector(userLabelSelector), filter: isRepoSecret });
    this.informer.addHandlers({
      onAdd: (s) => {
        this.events.created++;
        this.reconcile(s, EventTypes.create);
      },
      onUpdate: (old, s) => {
        this.events.updated++;
        this.reconcile(s, contentChanged(old, s) ? EventTypes.specUpdate : undefined, old);
      },
      onDelete: (s) => {
        this.events.deleted++;
        this.onDeleted(s);
      },
    });
    // A project that appears, changes or goes moves its secrets (upstream: re-run the update logic).
    const projectChanged = (p: AppProject) => {
      for (const s of this.informer.list()) if (repoProjectOf(s) === p.metadata.name) this.reconcile(s, undefined);
    };
    ctx.projectInformer.addHandlers({ onAdd: projectChanged, onUpdate: (_o, p) => projectChanged(p), onDelete: projectChanged });
  }

  /** The managed agents this secret should be on now. */
  recipients(s: Secret): Set<string> {
    const name = repoProjectOf(s);
    const project = name ? this.ctx.projectInformer.get(this.ctx.namespace, name) : undefined;
    return repoRecipients(project, managedAgents(this.ctx), this.ctx.destinationBased);
  }

  private send(agent: string, type: EventType, s: Secret, stamp: boolean): void {
    sendTo(this.ctx, agent, principalEvent(this.ctx, type, EventTargets.repository, payloadOf(s), stamp));
  }

  private remember(name: string, agents: Set<string>): void {
    if (agents.size) this.holders.set(name, agents);
    else this.holders.delete(name);
  }

  /**
   * Brings the agents in line with the secret: agents that lost it get
   * `delete`, agents that gained it `create`/`spec-update`, the others
   * `contentType` (nothing when undefined: only its recipients may have changed).
   */
  private reconcile(s: Secret, contentType: EventType | undefined, old?: Secret): void {
    const name = s.metadata.name!;
    const now = this.recipients(s);
    const { remove, keep, add } = recipientChanges(this.holders.get(name) ?? new Set(), now);
    for (const agent of remove) this.send(agent, EventTypes.delete, old ?? s, true);
    for (const agent of add) this.send(agent, contentType === EventTypes.create ? EventTypes.create : EventTypes.specUpdate, s, true);
    if (contentType) for (const agent of keep) this.send(agent, contentType, s, true);
    if (remove.length || add.length) log.info("repository secret recipients changed", { repository: name, project: repoProjectOf(s), removed: remove, added: add });
    else if (!now.size && contentType === EventTypes.create) log.debug("repository secret reaches no managed agent", { repository: name, project: repoProjectOf(s) });
    this.remember(name, now);
  }

  private onDeleted(s: Secret): void {
    const name = s.metadata.name!;
    // The project's agents now, and those remembered (the project may be gone).
    const targets = new Set([...(this.holders.get(name) ?? []), ...this.recipients(s)]);
    for (const agent of targets) this.send(agent, EventTypes.delete, s, true);
    this.holders.delete(name);
  }

  sendCurrentState(agent: string): void {
    for (const s of this.informer.list()) {
      if (!this.recipients(s).has(agent)) continue;
      this.send(agent, EventTypes.specUpdate, s, false);
      this.remember(s.metadata.name!, new Set([...(this.holders.get(s.metadata.name!) ?? []), agent]));
    }
  }

  trackedFor(agent: string): ResourceKey[] {
    return this.informer.list().filter((s) => this.recipients(s).has(agent)).map((s) => dataKeyOf(KIND, s));
  }

  requestUpdate(rec: AgentRecord, req: RequestUpdate): "in-sync" | "updated" | "deleted" {
    const agent = rec.agent;
    const s = this.informer.get(this.ctx.namespace, req.name);
    if (!s || !this.recipients(s).has(agent)) {
      this.holders.get(req.name)?.delete(agent);
      if (!req.uid) return "in-sync"; // the agent does not have it either
      // The agent's incarnation (its source-uid), whatever the principal has now.
      sendTo(this.ctx, agent, principalEvent(this.ctx, EventTypes.delete, EventTargets.repository, { metadata: { name: req.name, namespace: this.ctx.namespace, uid: req.uid } }, false));
      return "deleted";
    }
    if (req.uid === s.metadata.uid && (checksumsEqual(dataChecksum(KIND, s), req.checksum) || objectUpdatePending(this.ctx, agent, s))) return "in-sync";
    this.send(agent, EventTypes.specUpdate, s, false);
    this.remember(req.name, new Set([...(this.holders.get(req.name) ?? []), agent]));
    return "updated";
  }
}
