/**
 * `--buffer-informer-event-interval` (agent): at most one Application update
 * handled per object per interval (upstream agent/informer_event_buffer.go).
 *
 * The first update of an object is handled at once and opens a window of
 * `intervalMs`; updates arriving inside the window are held, newer replacing
 * older, and the last one is handled when the window closes (which opens the
 * next window). Adds and deletes are never held: an add drops a held update
 * and closes the window; a delete drops a held update (the object is gone).
 *
 * Difference from upstream, on purpose: a held update is handled with the
 * `old` object of the *first* held update and the `new` object of the last,
 * so a handler comparing old and new sees every change made in the window
 * (upstream keeps the last pair and can miss a change made earlier in the
 * window). The handler is told the update was coalesced, so an echo check by
 * resourceVersion does not drop other writers' changes folded into it.
 *
 * @example
 *   const t = new UpdateThrottle<Application>(2000, { onAdd, onUpdate, onDelete });
 *   informer.addHandlers(t.handlers());
 */
import type { InformerHandlers } from "../../kube/informer.ts";
import type { KubeObject } from "../../kube/resources.ts";

export interface ThrottledHandlers<T> {
  onAdd?: (obj: T) => void;
  /** `coalesced`: the update stands for several, held during the window. */
  onUpdate?: (oldObj: T, newObj: T, coalesced?: boolean) => void;
  onDelete?: (obj: T) => void;
}

interface Window<T> {
  timer: NodeJS.Timeout;
  held?: { old: T; cur: T; count: number };
}

export class UpdateThrottle<T extends KubeObject> {
  private readonly windows = new Map<string, Window<T>>();
  private readonly intervalMs: number;
  private readonly target: ThrottledHandlers<T>;
  /** Updates folded into a later one (a metric and for tests). */
  coalesced = 0;

  constructor(intervalMs: number, target: ThrottledHandlers<T>) {
    if (!(intervalMs > 0)) throw new Error("UpdateThrottle needs an interval greater than 0");
    this.intervalMs = intervalMs;
    this.target = target;
  }

  /** Handlers to register on the informer. */
  handlers(): InformerHandlers<T> {
    return {
      onAdd: (obj) => this.add(obj),
      onUpdate: (old, cur) => this.update(old, cur),
      onDelete: (obj) => this.remove(obj),
    };
  }

  /** Objects with an open window (tests, diagnostics). */
  get open(): number {
    return this.windows.size;
  }

  private static key(obj: KubeObject): string {
    return `${obj.metadata.namespace ?? ""}/${obj.metadata.name ?? ""}`;
  }

  add(obj: T): void {
    this.close(UpdateThrottle.key(obj));
    this.target.onAdd?.(obj);
  }

  update(old: T, cur: T): void {
    const key = UpdateThrottle.key(cur);
    const w = this.windows.get(key);
    if (!w) {
      this.openWindow(key);
      this.target.onUpdate?.(old, cur, false);
      return;
    }
    if (w.held) {
      w.held.cur = cur;
      w.held.count++;
      this.coalesced++;
    } else {
      w.held = { old, cur, count: 1 };
    }
  }

  remove(obj: T): void {
    this.close(UpdateThrottle.key(obj));
    this.target.onDelete?.(obj);
  }

  /** Drops every window and held update (shutdown). */
  stop(): void {
    for (const w of this.windows.values()) clearTimeout(w.timer);
    this.windows.clear();
  }

  private openWindow(key: string): void {
    const timer = setTimeout(() => this.windowEnded(key), this.intervalMs);
    timer.unref();
    this.windows.set(key, { timer });
  }

  private windowEnded(key: string): void {
    const held = this.windows.get(key)?.held;
    this.windows.delete(key);
    if (!held) return;
    this.openWindow(key);
    this.target.onUpdate?.(held.old, held.cur, held.count > 1);
  }

  private close(key: string): void {
    const w = this.windows.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    this.windows.delete(key);
  }
}
