/**
 * The replica's writes into its own cluster (operations.md §4.5 "Replica
 * apply"), through the kube layer: make a local Application, AppProject or
 * Secret look like the primary's copy, or delete it. Server-set metadata of
 * the primary (uid, resourceVersion, timestamps, managedFields) never
 * travels; ownerReferences to ApplicationSets are pointed at the local
 * ApplicationSet of the same name or dropped (a reference to a UID that does
 * not exist here would let the garbage collector delete the object).
 *
 * Every write retries: conflicts by re-reading, API outages by waiting for
 * the API server (ApiReachability, as replication does), throttling and 5xx
 * with backoff, each up to `maxApiWaitMs`. What fails past that is thrown.
 *
 * @example
 *   const w = new ReplicaWriter({ kube, signal });
 *   await w.upsertApp(primaryCopy);          // create or update, then status
 *   await w.deleteApp("agent-a", "guestbook");
 */
import type { KubeClient } from "../kube/client.ts";
import { secrets, type CoreObjectClient } from "../kube/core-objects.ts";
import { applications, appProjects, apiStatusCode, CustomResourceClient, ensureNamespace, isAlreadyExists, isConflict, isNotFound } from "../kube/crud.ts";
import { ApiReachability, isUnanswered } from "../kube/reachability.ts";
import { ARGOPROJ_GROUP, ARGOPROJ_VERSION, type Application, type AppProject, type KubeObject, type LooseRecord, type ResourceKind, type Secret } from "../kube/resources.ts";
import { getLogger } from "../observability/log.ts";
import { errorText, isRetryable } from "../replication/kube-errors.ts";
import { compact, same, sourceUidOf } from "../replication/objects.ts";
import { sleep } from "../transport/backoff.ts";

const log = getLogger("ha");

const APPLICATIONSET_KIND: ResourceKind = { group: ARGOPROJ_GROUP, version: ARGOPROJ_VERSION, plural: "applicationsets", kind: "ApplicationSet", namespaced: true };
/** Conflicts in a row before giving up on one write (another writer keeps winning). */
const MAX_CONFLICTS = 10;

export interface ReplicaWriterOptions {
  kube: KubeClient;
  /** Ends every wait (shutdown). */
  signal: AbortSignal;
  /** Longest wait per write for an unreachable or failing API server (default 5 min). */
  maxApiWaitMs?: number;
  reach?: ApiReachability;
}

export interface AppUpsert {
  /** The operation to store given the local copy (default: the wanted object's). */
  operation?: (cur: Application | undefined) => LooseRecord | undefined;
  /** Keep the local finalizers instead of taking the wanted ones. */
  keepFinalizers?: boolean;
  /**
   * The local copy is being deleted and the wanted one is not: "skip" the
   * write (what the principal does for mirrors), or "replace" (finish the local
   * deletion, create anew). Default "replace".
   */
  whenDeleting?: "skip" | "replace";
}

/** Metadata of a wanted object that we write: what the primary's user or principal set. */
function wantedMeta(o: KubeObject): LooseRecord {
  const m = o.metadata;
  return compact({ name: m.name, namespace: m.namespace, labels: m.labels, annotations: m.annotations, finalizers: m.finalizers });
}

/** The same fields for an update: absent ones included, so they are removed locally too. */
function ownedMeta(o: KubeObject): LooseRecord {
  return { labels: o.metadata.labels, annotations: o.metadata.annotations };
}

function nameOf(o: KubeObject): { ns: string; name: string } {
  const { namespace, name } = o.metadata;
  if (!namespace || !name) throw new Error(`${o.kind ?? "object"} without metadata.namespace and metadata.name`);
  return { ns: namespace, name };
}

export class ReplicaWriter {
  readonly kube: KubeClient;
  readonly apps: CustomResourceClient<Application>;
  readonly projects: CustomResourceClient<AppProject>;
  readonly secrets: CoreObjectClient<Secret>;
  private readonly appSets: CustomResourceClient<KubeObject>;
  private readonly opts: ReplicaWriterOptions;
  private readonly reach: ApiReachability;

  constructor(opts: ReplicaWriterOptions) {
    this.opts = opts;
    this.kube = opts.kube;
    this.apps = applications(opts.kube);
    this.projects = appProjects(opts.kube);
    this.secrets = secrets(opts.kube);
    this.appSets = new CustomResourceClient<KubeObject>(opts.kube, APPLICATIONSET_KIND);
    this.reach = opts.reach ?? new ApiReachability(opts.kube.kubeConfig);
  }

  /**
   * Runs `fn` until it succeeds: again at once on a conflict (fn re-reads),
   * after the API server answers again when it gave no answer, after a
   * backoff on 429/5xx; other errors and the end of the wait are thrown.
   */
  async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const signal = this.opts.signal;
    let deadline: AbortSignal | undefined;
    let conflicts = 0;
    let delay = 200;
    let waited = false;
    for (;;) {
      if (signal.aborted) throw new Error(`${what}: stopped`);
      try {
        return await fn();
      } catch (err) {
        if (isConflict(err) || isAlreadyExists(err)) {
          if (++conflicts >= MAX_CONFLICTS) throw err;
          await sleep(10 * conflicts * (1 + Math.random()), signal);
          continue;
        }
        if (!isRetryable(err)) throw err;
        deadline ??= AbortSignal.any([signal, AbortSignal.timeout(this.opts.maxApiWaitMs ?? 300_000)]);
        if (deadline.aborted) throw err;
        if (isUnanswered(err)) {
          if (!waited) log.info("API server unreachable; replica write waits for it", { what, error: errorText(err) });
          waited = true;
          if (!(await this.reach.waitUntilReachable(deadline))) throw err;
        } else {
          if (!(await sleep(delay, deadline))) throw err;
          delay = Math.min(delay * 2, 5000);
        }
      }
    }
  }

  /** Creates through `create`; a missing namespace is created first (the primary has it). */
  private async createIn<T>(ns: string, create: () => Promise<T>): Promise<T> {
    try {
      return await create();
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await ensureNamespace(this.opts.kube, ns);
      return await create();
    }
  }

  /** ownerReferences with ApplicationSet UIDs mapped to the local ApplicationSet, others dropped. */
  private async localOwners(o: KubeObject): Promise<LooseRecord[] | undefined> {
    const refs = o.metadata.ownerReferences;
    if (!Array.isArray(refs) || refs.length === 0) return undefined;
    const out: LooseRecord[] = [];
    for (const ref of refs) {
      if (ref["kind"] !== "ApplicationSet" || typeof ref["name"] !== "string") continue;
      const local = await this.appSets.get(o.metadata.namespace!, ref["name"]).catch((err: unknown) => {
        if (apiStatusCode(err) === 404) return undefined; // no CRD here
        throw err;
      });
      if (local?.metadata.uid) out.push({ ...ref, uid: local.metadata.uid });
    }
    return out.length ? out : undefined;
  }

  /** Makes the local Application equal to `want` (metadata we own, spec, operation, status). */
  async upsertApp(want: Application, how: AppUpsert = {}): Promise<void> {
    const { ns, name } = nameOf(want);
    const ownerReferences = await this.retrying(`owners of Application ${ns}/${name}`, () => this.localOwners(want));
    const operationOf = how.operation ?? (() => want.operation);
    await this.retrying(`Application ${ns}/${name}`, async () => {
      let cur = await this.apps.get(ns, name);
      if (cur?.metadata.deletionTimestamp && !want.metadata.deletionTimestamp) {
        if (how.whenDeleting === "skip") return;
        await this.finishDeletion(this.apps, cur);
        cur = undefined;
      }
      if (!cur) {
        if (want.metadata.deletionTimestamp) return; // gone here, going there: nothing to add
        const body = compact({ metadata: compact({ ...wantedMeta(want), ownerReferences }), spec: want.spec, operation: operationOf(undefined) });
        cur = await this.createIn(ns, () => this.apps.create(body as Application));
      } else {
        const metadata = compact({ ...cur.metadata, ...ownedMeta(want), ownerReferences, finalizers: how.keepFinalizers ? cur.metadata.finalizers : want.metadata.finalizers });
        const next = compact({ ...cur, metadata, spec: want.spec, operation: operationOf(cur) }) as Application;
        if (!same(next.metadata, cur.metadata) || !same(next.spec, cur.spec) || !same(next.operation, cur.operation)) cur = await this.apps.update(next);
      }
      if (want.status !== undefined && !same(cur.status, want.status)) cur = await this.apps.updateStatus({ ...cur, status: want.status });
      // The primary's copy waits for its finalizers: start the same deletion here.
      if (want.metadata.deletionTimestamp && !cur.metadata.deletionTimestamp) await this.apps.delete(ns, name, { uid: cur.metadata.uid });
    });
  }

  /** Makes the local AppProject equal to `want` (metadata we own, spec, status when given). */
  async upsertProject(want: AppProject, how: { keepFinalizers?: boolean } = {}): Promise<void> {
    const { ns, name } = nameOf(want);
    await this.retrying(`AppProject ${ns}/${name}`, async () => {
      let cur = await this.projects.get(ns, name);
      if (cur?.metadata.deletionTimestamp && !want.metadata.deletionTimestamp) {
        await this.finishDeletion(this.projects, cur);
        cur = undefined;
      }
      if (!cur) {
        if (want.metadata.deletionTimestamp) return;
        cur = await this.createIn(ns, () => this.projects.create({ metadata: wantedMeta(want), spec: want.spec } as AppProject));
      } else {
        const finalizers = how.keepFinalizers ? cur.metadata.finalizers : want.metadata.finalizers;
        const next = compact({ ...cur, metadata: compact({ ...cur.metadata, ...ownedMeta(want), finalizers }), spec: want.spec }) as AppProject;
        if (!same(next.metadata, cur.metadata) || !same(next.spec, cur.spec)) cur = await this.projects.update(next);
      }
      if (want.status !== undefined && !same(cur.status, want.status)) cur = await this.projects.updateStatus({ ...cur, status: want.status });
      if (want.metadata.deletionTimestamp && !cur.metadata.deletionTimestamp) await this.projects.delete(ns, name, { uid: cur.metadata.uid });
    });
  }

  /** Makes the local Secret equal to `want` (type, data, labels, annotations); a type change recreates it. */
  async upsertSecret(want: Secret): Promise<void> {
    const { ns, name } = nameOf(want);
    const body = compact({ metadata: compact({ name, namespace: ns, labels: want.metadata.labels, annotations: want.metadata.annotations }), type: want.type, data: want.data }) as Secret;
    await this.retrying(`Secret ${ns}/${name}`, async () => {
      const cur = await this.secrets.get(ns, name);
      if (cur && (cur.type ?? "Opaque") !== (want.type ?? "Opaque")) {
        await this.secrets.delete(ns, name, { uid: cur.metadata.uid });
        throw Object.assign(new Error("secret type changed; recreating"), { statusCode: 409 });
      }
      if (!cur) return void (await this.createIn(ns, () => this.secrets.create(body)));
      const next = { ...cur, metadata: compact({ ...cur.metadata, labels: want.metadata.labels, annotations: want.metadata.annotations }), data: want.data ?? {} };
      if (!same(next.metadata, cur.metadata) || !same(next.data, cur.data)) await this.secrets.update(next);
    });
  }

  /**
   * Deletes a local Application; its finalizers go first (the deletion
   * already happened on the primary). With `sourceUid`, only the mirror of
   * that incarnation. False when there was nothing to delete.
   */
  deleteApp(ns: string, name: string, opts: { sourceUid?: string } = {}): Promise<boolean> {
    return this.deleteCustom(this.apps, ns, name, opts);
  }

  deleteProject(ns: string, name: string, opts: { sourceUid?: string } = {}): Promise<boolean> {
    return this.deleteCustom(this.projects, ns, name, opts);
  }

  deleteSecret(ns: string, name: string): Promise<boolean> {
    return this.retrying(`delete Secret ${ns}/${name}`, () => this.secrets.delete(ns, name));
  }

  private deleteCustom<T extends KubeObject>(client: CustomResourceClient<T>, ns: string, name: string, opts: { sourceUid?: string }): Promise<boolean> {
    return this.retrying(`delete ${client.kind.kind} ${ns}/${name}`, async () => {
      const cur = await client.get(ns, name);
      if (!cur) return false;
      if (opts.sourceUid && sourceUidOf(cur) !== opts.sourceUid) {
        log.debug("not deleting another incarnation", { kind: client.kind.kind, object: `${ns}/${name}` });
        return false;
      }
      if (cur.metadata.finalizers?.length) await client.update({ ...cur, metadata: { ...cur.metadata, finalizers: [] } });
      return (await client.delete(ns, name, { uid: cur.metadata.uid })) || Boolean(cur.metadata.finalizers?.length);
    });
  }

  /** Removes the finalizers of an object being deleted, so the API server completes the deletion. */
  private async finishDeletion<T extends KubeObject>(client: CustomResourceClient<T>, cur: T): Promise<void> {
    log.info("local copy is being deleted but the primary's is not; finishing the deletion to recreate it", { kind: client.kind.kind, object: `${cur.metadata.namespace}/${cur.metadata.name}` });
    if (cur.metadata.finalizers?.length) await client.update({ ...cur, metadata: { ...cur.metadata, finalizers: [] } });
    else await client.delete(cur.metadata.namespace!, cur.metadata.name!, { uid: cur.metadata.uid }).catch(() => {});
  }
}
