/**
 * A managed agent's copies of the principal's data objects (operations.md
 * §3.3): repository Secrets and the GPG ConfigMap, one instance per kind.
 * Incoming `create`/`spec-update` are applied in the agent namespace stamped
 * with `argocd.argoproj.io/source-uid` (the principal's UID); a local object
 * of another incarnation is handled by the mismatch policy (the incoming
 * object's `argocd.argoproj.io/source-uid-mismatch-policy` annotation, else
 * `--source-uid-mismatch-policy`: `recreate` deletes and creates, `upsert`
 * updates in place and re-stamps). `delete` removes only a copy the principal
 * made (background propagation). Local edits of `data` are reverted from the
 * copy last received, local deletions the principal did not ask for are
 * recreated; both also after an agent restart (the cache is rebuilt from the
 * stamped local objects).
 *
 * Finalizers are not copied (upstream copies them): the agent runs no
 * controller for the hub's finalizers, so a copy would stay Terminating.
 *
 * @example
 *   const repos = new ManagedDataObjects(ctx, { ...DataKinds.repository, client: secrets(kube), informer, adoptUnstamped: false, dropLastApplied: true });
 *   await repos.handle(ev, payload); // an event with target "repository"
 */
import type { AgentEvent, JsonObject } from "../../events/cloudevent.ts";
import { EventTypes, type EventTarget, type ResyncKind } from "../../events/event-types.ts";
import type { CoreObjectClient } from "../../kube/core-objects.ts";
import { isAlreadyExists, retryOnConflict } from "../../kube/crud.ts";
import type { Informer } from "../../kube/informer.ts";
import type { KubeObject } from "../../kube/resources.ts";
import { getLogger } from "../../observability/log.ts";
import type { HandlerOutcome } from "../../transport/event-session.ts";
import { errorText, failure, rejected } from "../kube-errors.ts";
import { stale, withLatest } from "../latest.ts";
import { compact, freshCopy, LAST_APPLIED, MISMATCH_POLICY_ANNOTATION, same, SOURCE_UID, sourceUidOf } from "../objects.ts";
import { dataObjectFromPayload, type DataObject } from "../secret-objects.ts";
import type { AgentContext } from "./agent-context.ts";

const log = getLogger("replication");

/** What the agent's replication and resync see of a replicated data kind. */
export interface AgentDataKind {
  readonly kind: ResyncKind;
  readonly target: EventTarget;
  readonly informer: Pick<Informer<KubeObject>, "run" | "waitForSync" | "hasSynced" | "kind">;
  /** Local objects the principal gave us (they carry source-uid). */
  tracked(): KubeObject[];
  /** The local object of this name in the agent namespace. */
  lookup(name: string): KubeObject | undefined;
  /** Applies an event from the principal. */
  handle(ev: AgentEvent, payload: JsonObject | undefined): Promise<HandlerOutcome | void>;
}

export interface DataObjectsConfig<T extends DataObject> {
  kind: ResyncKind;
  target: EventTarget;
  coreKind: "Secret" | "ConfigMap";
  client: CoreObjectClient<T>;
  informer: Informer<T>;
  /** False (repositories): an existing local object without source-uid is never taken over; the event fails. True (GPG): it counts as a mismatch. */
  adoptUnstamped: boolean;
  /** Drop kubectl's last-applied-configuration annotation from the copy (repositories). */
  dropLastApplied: boolean;
}

type Data = Record<string, string> | undefined;

export class ManagedDataObjects<T extends DataObject> implements AgentDataKind {
  readonly kind: ResyncKind;
  readonly target: EventTarget;
  readonly informer: Informer<T>;
  private readonly ctx: AgentContext;
  private readonly cfg: DataObjectsConfig<T>;
  /** `data` last received from the principal, by source UID: what local edits are reverted to. */
  private readonly sourceData = new Map<string, Data>();
  /** Source UIDs whose local deletion we started (not to be recreated). */
  private readonly expectedDeletes = new Set<string>();

  constructor(ctx: AgentContext, cfg: DataObjectsConfig<T>) {
    this.ctx = ctx;
    this.cfg = cfg;
    this.kind = cfg.kind;
    this.target = cfg.target;
    this.informer = cfg.informer;
    this.informer.addHandlers({ onAdd: (o) => this.onAdded(o), onUpdate: (_o, o) => this.onUpdated(o), onDelete: (o) => this.onDeleted(o) });
  }

  tracked(): KubeObject[] {
    return this.informer.list().filter((o) => sourceUidOf(o) !== undefined);
  }

  lookup(name: string): KubeObject | undefined {
    return this.informer.get(this.ctx.namespace, name);
  }

  private where(name: string): Record<string, string> {
    return { [this.cfg.target]: `${this.ctx.namespace}/${name}` };
  }

  async handle(ev: AgentEvent, payload: JsonObject | undefined): Promise<HandlerOutcome | void> {
    const isDelete = ev.type === EventTypes.delete;
    const parsed = dataObjectFromPayload<T>(payload, this.cfg.coreKind, !isDelete);
    if (!parsed.ok) return rejected(log, `rejected ${this.cfg.target} event from principal`, { event_type: ev.type, reason: parsed.error });
    const incoming = parsed.obj;
    const name = incoming.metadata.name!;
    const uid = incoming.metadata.uid ?? "";
    if (!uid && !isDelete) return rejected(log, `rejected ${this.cfg.target} event without uid`, { event_type: ev.type, ...this.where(name) });
    try {
      if (isDelete) return await this.deleteLocal(name, uid);
      if (ev.type === EventTypes.create || ev.type === EventTypes.specUpdate) return await this.apply(incoming, uid);
      return rejected(log, `${this.cfg.target} event type not accepted by a managed agent`, { event_type: ev.type });
    } catch (err) {
      log.error(`applying ${this.cfg.target} event failed`, { event_type: ev.type, ...this.where(name), error: errorText(err) });
      return failure(err);
    }
  }

  /** The mismatch policy: the incoming object's annotation, else --source-uid-mismatch-policy. */
  private mismatchPolicy(incoming: T): "recreate" | "upsert" {
    const v = incoming.metadata.annotations?.[MISMATCH_POLICY_ANNOTATION];
    if (v === "recreate" || v === "upsert") return v;
    if (v !== undefined) log.warn("unknown source-uid-mismatch-policy annotation; using the agent's policy", { ...this.where(incoming.metadata.name!), value: v });
    return this.ctx.mismatchPolicy;
  }

  /** The local copy: our namespace, the principal's labels and annotations stamped with its UID, its data. */
  private desired(incoming: T, uid: string): T {
    const annotations: Record<string, string> = { ...(incoming.metadata.annotations ?? {}), [SOURCE_UID]: uid };
    if (this.cfg.dropLastApplied) delete annotations[LAST_APPLIED];
    const metadata = compact({ name: incoming.metadata.name, namespace: this.ctx.namespace, labels: incoming.metadata.labels ?? undefined, annotations });
    const type = (incoming as { type?: string }).type;
    return compact({ metadata, data: incoming.data ?? undefined, ...(this.cfg.coreKind === "Secret" && type ? { type } : {}) }) as T;
  }

  private async create(want: T, uid: string): Promise<void> {
    // Cache first: the informer event of our own write must not be "reverted".
    this.sourceData.set(uid, structuredClone(want.data));
    try {
      await this.cfg.client.create(want);
    } catch (err) {
      if (isAlreadyExists(err)) throw Object.assign(new Error("created concurrently"), { statusCode: 409 });
      throw err;
    }
    log.info(`created ${this.cfg.target} from principal`, this.where(want.metadata.name!));
  }

  private async apply(incoming: T, uid: string): Promise<HandlerOutcome | void> {
    const ns = this.ctx.namespace;
    const name = incoming.metadata.name!;
    const want = this.desired(incoming, uid);
    return withLatest(this.informer, this.cfg.client, ns, name, async (cur, fromCache): Promise<HandlerOutcome | void> => {
      if (!cur) return this.create(want, uid);
      const curSrc = sourceUidOf(cur);
      if (!curSrc && !this.cfg.adoptUnstamped) {
        if (fromCache) stale();
        log.error(`a local ${this.cfg.target} of this name exists and was not created by the agent; not taking it over`, this.where(name));
        return { failed: true };
      }
      if (curSrc !== uid) {
        if (this.mismatchPolicy(incoming) === "recreate") {
          log.info(`source UID differs; recreating the local ${this.cfg.target}`, { ...this.where(name), old: curSrc ?? "", new: uid });
          if (curSrc) this.expectedDeletes.add(curSrc);
          await this.cfg.client.delete(ns, name, { uid: cur.metadata.uid, propagation: "Background" });
          return this.create(want, uid);
        }
        log.info(`source UID differs; updating the local ${this.cfg.target} in place`, { ...this.where(name), old: curSrc ?? "", new: uid });
        if (curSrc) this.sourceData.delete(curSrc);
      }
      this.sourceData.set(uid, structuredClone(want.data));
      const next = { ...cur, metadata: { ...cur.metadata, labels: want.metadata.labels, annotations: want.metadata.annotations }, data: want.data } as T;
      if (same(next.metadata, cur.metadata) && same(next.data, cur.data)) return;
      await this.cfg.client.update(compact(next as never) as T);
    });
  }

  private async deleteLocal(name: string, uid: string): Promise<void> {
    const ns = this.ctx.namespace;
    await withLatest(this.informer, this.cfg.client, ns, name, async (cur, fromCache) => {
      const src = sourceUidOf(cur);
      if (fromCache && (!cur || !src || (uid && src !== uid))) stale();
      if (!cur) return;
      if (!src) return log.warn(`delete for a local ${this.cfg.target} the agent did not create; kept`, this.where(name));
      if (uid && src !== uid) return log.info(`delete for another incarnation of the ${this.cfg.target} ignored`, this.where(name));
      this.expectedDeletes.add(src);
      try {
        if (!(await this.cfg.client.delete(ns, name, { uid: cur.metadata.uid, propagation: "Background" }))) this.forget(src);
      } catch (err) {
        this.expectedDeletes.delete(src);
        throw err;
      }
      log.info(`deleted ${this.cfg.target} as the principal asked`, this.where(name));
    });
  }

  private forget(src: string): void {
    this.expectedDeletes.delete(src);
    this.sourceData.delete(src);
  }

  // ------------------------------------------------------------ informer side

  private onAdded(o: T): void {
    const src = sourceUidOf(o);
    // Rebuilt at start-up from local objects, so reverts work before any traffic.
    if (src && !this.sourceData.has(src)) this.sourceData.set(src, structuredClone(o.data));
  }

  private onUpdated(o: T): void {
    const src = sourceUidOf(o);
    if (!src || !this.sourceData.has(src) || o.metadata.deletionTimestamp || same(this.sourceData.get(src), o.data)) return;
    log.info(`reverting an unauthorised local change of ${this.cfg.target} data`, this.where(o.metadata.name!));
    void retryOnConflict(async () => {
      const cur = await this.cfg.client.get(this.ctx.namespace, o.metadata.name!);
      if (!cur || sourceUidOf(cur) !== src || !this.sourceData.has(src)) return;
      const want = this.sourceData.get(src);
      if (same(cur.data, want)) return;
      await this.cfg.client.update(compact({ ...cur, data: structuredClone(want) }) as T);
    }).catch((err) => log.warn(`could not revert ${this.cfg.target}`, { ...this.where(o.metadata.name!), error: errorText(err) }));
  }

  private onDeleted(o: T): void {
    const src = sourceUidOf(o);
    if (!src) return;
    if (this.expectedDeletes.has(src)) return this.forget(src);
    log.info(`recreating a ${this.cfg.target} deleted locally without the principal's consent`, this.where(o.metadata.name!));
    const copy = freshCopy(o as KubeObject) as T;
    if (this.sourceData.has(src)) copy.data = structuredClone(this.sourceData.get(src));
    copy.metadata.finalizers = undefined;
    void this.cfg.client.create(compact(copy as never) as T).catch((err) => {
      if (!isAlreadyExists(err)) log.warn(`could not recreate ${this.cfg.target}`, { ...this.where(o.metadata.name!), error: errorText(err) });
    });
  }
}
