/**
 * The GPG keys ConfigMap (`argocd-gpg-keys-cm`) on the principal
 * (operations.md §3.2): every change goes to every managed agent, with no
 * project or cluster-secret check; autonomous agents get nothing. The gauge
 * `argocd_principal_gpg_keys_count` is the number of keys (0 once deleted).
 *
 * @example
 *   const gpg = new PrincipalGpgKeys(ctx, "");
 *   void gpg.informer.run(signal);
 *   gpg.sendCurrentState("agent-a"); // on a managed agent's connect
 */
import { EventTargets, EventTypes, ResyncKinds, type EventType } from "../../events/event-types.ts";
import { checksumsEqual, type RequestUpdate, type ResourceKey } from "../../events/resync.ts";
import { configMapInformer, type Informer } from "../../kube/informer.ts";
import type { ConfigMap } from "../../kube/resources.ts";
import type { AgentRecord } from "../../principal/agent-registry.ts";
import { dataChecksum, GPG_KEYS_CONFIGMAP, gpgKeysWatch, isGpgKeysConfigMap } from "../secret-objects.ts";
import { objectUpdatePending, principalEvent, sendTo, type PrincipalContext } from "./principal-context.ts";
import { dataKeyOf, managedAgents, type PrincipalDataKind } from "./principal-data-kinds.ts";

const KIND = ResyncKinds.gpgKey;

function payloadOf(c: ConfigMap): ConfigMap {
  const { managedFields: _mf, ...metadata } = c.metadata;
  return { ...c, metadata };
}

export class PrincipalGpgKeys implements PrincipalDataKind {
  readonly kind = KIND;
  readonly informer: Informer<ConfigMap>;
  /** Keys in the ConfigMap (argocd_principal_gpg_keys_count). */
  keyCount = 0;
  private readonly ctx: PrincipalContext;

  constructor(ctx: PrincipalContext, userLabelSelector: string) {
    this.ctx = ctx;
    this.informer = configMapInformer(ctx.kube, { namespace: ctx.namespace, ...gpgKeysWatch(userLabelSelector), filter: isGpgKeysConfigMap });
    const count = (c: ConfigMap | undefined) => (this.keyCount = c ? Object.keys(c.data ?? {}).length : 0);
    this.informer.addHandlers({
      onAdd: (c) => {
        count(c);
        this.toAll(EventTypes.create, c);
      },
      onUpdate: (_o, c) => {
        count(c);
        this.toAll(EventTypes.specUpdate, c);
      },
      onDelete: (c) => {
        count(undefined);
        this.toAll(EventTypes.delete, c);
      },
    });
  }

  private current(): ConfigMap | undefined {
    return this.informer.get(this.ctx.namespace, GPG_KEYS_CONFIGMAP);
  }

  private send(agent: string, type: EventType, c: ConfigMap): void {
    // Upstream stamps no principaluid on GPG events.
    sendTo(this.ctx, agent, principalEvent(this.ctx, type, EventTargets.gpgKey, payloadOf(c), false));
  }

  private toAll(type: EventType, c: ConfigMap): void {
    for (const agent of managedAgents(this.ctx)) this.send(agent, type, c);
  }

  sendCurrentState(agent: string): void {
    const c = this.current();
    if (c) this.send(agent, EventTypes.specUpdate, c);
  }

  trackedFor(_agent: string): ResourceKey[] {
    const c = this.current();
    return c ? [dataKeyOf(KIND, c)] : [];
  }

  requestUpdate(rec: AgentRecord, req: RequestUpdate): "in-sync" | "updated" | "deleted" {
    const c = req.name === GPG_KEYS_CONFIGMAP ? this.current() : undefined;
    if (!c) {
      if (!req.uid) return "in-sync";
      sendTo(this.ctx, rec.agent, principalEvent(this.ctx, EventTypes.delete, EventTargets.gpgKey, { metadata: { name: req.name, namespace: this.ctx.namespace, uid: req.uid } }, false));
      return "deleted";
    }
    if (req.uid === c.metadata.uid && (checksumsEqual(dataChecksum(KIND, c), req.checksum) || objectUpdatePending(this.ctx, rec.agent, c))) return "in-sync";
    this.send(rec.agent, EventTypes.specUpdate, c);
    return "updated";
  }
}
