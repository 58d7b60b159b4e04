/**
 * The work of `ctl ha status|promote|demote` (ha-commands.ts holds the flags
 * and their checks): reach one principal's HA admin API, directly at
 * `-a/--address` or through a port-forward to the principal Pod
 * (ha-port-forward.ts, which with the kube layer is loaded only on that path,
 * so `ha status -a` never evaluates the Kubernetes client library), within
 * the `-t/--timeout` (port-forward set-up included); `promote` and `demote`
 * ask `Proceed? [y/N]:` first unless forced.
 *
 * @example
 *   await haStatus(ctx, { address: "127.0.0.1:8405", timeoutMs: 10_000, timeoutText: "10s" }, "text");
 *   await haPromote(ctx, target, false, () => stdinAnswers());
 */
import { CtlError, loadKubeLayer, type CtlContext } from "./ctl-context.ts";
import { haAdminClient, type HaAdmin } from "./ha-admin-client.ts";
import { renderHaStatus } from "./ha-status-output.ts";
import type { SummaryFormat } from "./pki-output.ts";
import type { Answers } from "./stdin-answers.ts";

/** The validated `-a/--address` and `-t/--timeout` flags. */
export interface HaTarget {
  /** -a/--address, validated; undefined: port-forward to the principal pod. */
  address?: string;
  timeoutMs: number;
  timeoutText: string;
}

/** Runs `work` against the admin API of the target, within the timeout (port-forward set-up included). */
async function withAdmin<T>(ctx: CtlContext, t: HaTarget, work: (admin: HaAdmin, deadline: number) => Promise<T>): Promise<T> {
  if (t.address !== undefined) {
    const deadline = Date.now() + t.timeoutMs;
    const admin = haAdminClient(t.address, t.address);
    try {
      return await work(admin, deadline);
    } finally {
      admin.close();
    }
  }
  // Loaded before the clock starts: the timeout is for reaching the principal, not for loading code.
  const [{ openPrincipalPortForward }] = await Promise.all([import("./ha-port-forward.ts"), loadKubeLayer()]);
  const deadline = Date.now() + t.timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CtlError(`no principal pod reachable within ${t.timeoutText} (-t/--timeout)`)), t.timeoutMs);
  });
  const tunnel = await Promise.race([openPrincipalPortForward(ctx.kube(), ctx.globals.principalNamespace), expired]).finally(() => clearTimeout(timer));
  const admin = haAdminClient(tunnel.address, tunnel.description, tunnel);
  try {
    return await work(admin, deadline);
  } finally {
    admin.close();
    await tunnel.close();
  }
}

/** Prints the warning, asks `Proceed? [y/N]: `; true on y/yes (any case). */
async function confirmed(ctx: CtlContext, warning: string, answers: () => Answers): Promise<boolean> {
  ctx.out(warning);
  const a = answers();
  const reply = await a.ask("Proceed? [y/N]: ");
  a.close();
  const word = reply?.trim().toLowerCase();
  if (word === "y" || word === "yes") return true;
  ctx.out("Operation cancelled.");
  return false;
}

export async function haStatus(ctx: CtlContext, t: HaTarget, format: SummaryFormat): Promise<void> {
  const status = await withAdmin(ctx, t, (admin, deadline) => admin.status(deadline));
  ctx.out(renderHaStatus(status, format, Date.now()));
}

/** `force` skips the question and tells the principal to skip its safety check. */
export async function haPromote(ctx: CtlContext, t: HaTarget, force: boolean, answers: () => Answers): Promise<void> {
  if (!force && !(await confirmed(ctx, "WARNING: This will promote the principal to ACTIVE.", answers))) return;
  const state = await withAdmin(ctx, t, (admin, deadline) => admin.promote(force, deadline));
  ctx.out(`Promoted. State is now: ${state}`);
}

export async function haDemote(ctx: CtlContext, t: HaTarget, force: boolean, answers: () => Answers): Promise<void> {
  if (!force && !(await confirmed(ctx, "WARNING: This will demote the principal to REPLICA.", answers))) return;
  const state = await withAdmin(ctx, t, (admin, deadline) => admin.demote(deadline));
  ctx.out(`Demoted. State is now: ${state}`);
}
