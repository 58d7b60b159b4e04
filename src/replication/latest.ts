/**
 * Read-modify-write with the informer cache as the first read. Every event
 * handler used to start with a GET of the object it is about to write, one
 * API round trip per event although the informer already holds the object.
 * Now the first attempt works on the cached copy; the write is conditional
 * (resourceVersion), so a stale copy can only make it fail with a conflict,
 * "already exists" (cache behind a create) or "not found" (cache behind a
 * delete), and then the classic loop takes over with fresh GETs.
 *
 * A stale copy must never make an event be dropped: a handler that would
 * refuse or skip an event because of what the cache says ("no such object",
 * "another incarnation", "nothing to do") calls `stale()` when `fromCache`
 * is true, and gets the same decision re-made on a fresh GET. Deciding from a
 * stale copy that an *update* is unnecessary would only be wrong if a newer
 * version exists, which the informer delivers right after, and the update
 * handlers compare it with the source of truth (spec reverts, status
 * reports) as for any other change.
 *
 * @example
 *   await withLatest(ctx.appInformer, ctx.apps, ns, name, async (cur) => {
 *     if (cur) ctx.selfWrites.record(await ctx.apps.update({ ...cur, spec }));
 *   });
 */
import { isAlreadyExists, isConflict, isNotFound, retryOnConflict, type CustomResourceClient } from "../kube/crud.ts";
import type { Informer } from "../kube/informer.ts";
import type { KubeObject } from "../kube/resources.ts";

export async function withLatest<T extends KubeObject, R>(
  informer: Informer<T>,
  client: Pick<CustomResourceClient<T>, "get">,
  namespace: string,
  name: string,
  fn: (cur: T | undefined, fromCache: boolean) => Promise<R>,
): Promise<R> {
  if (informer.hasSynced()) {
    try {
      return await fn(informer.get(namespace, name), true);
    } catch (err) {
      if (!isStale(err)) throw err;
    }
  }
  return retryOnConflict(async () => fn(await client.get(namespace, name), false));
}

class StaleRead extends Error {}

/** Thrown by a handler to have its decision re-made on a fresh read. */
export function stale(): never {
  throw new StaleRead("decision needs a fresh read");
}

/** Failures a stale cached copy explains (409 covers our "created concurrently" conversions too). */
function isStale(err: unknown): boolean {
  return err instanceof StaleRead || isConflict(err) || isAlreadyExists(err) || isNotFound(err) || (err as { statusCode?: number } | null)?.statusCode === 409;
}
