/**
 * The `ctl ha` command tree (operations.md §1.2, §4.7): `status`, `promote`
 * and `demote` of one principal through its HA admin API. `-a/--address`
 * dials host:port directly (plaintext; the API listens on the principal's
 * 127.0.0.1 only, so this is for use inside the Pod or through your own
 * tunnel); without it the principal Pod of `--principal-context` /
 * `--principal-namespace` is reached by a port-forward through the
 * Kubernetes API (ha-port-forward.ts). `promote` and `demote` ask
 * `Proceed? [y/N]:` on stdin unless `-f/--force`; promote's `--force` also
 * tells the principal to skip its safety check (promoting while the
 * replication stream to the peer is still up).
 *
 * @example
 *   argocd-agent ctl --principal-context region-b ha status
 *   argocd-agent ctl --principal-context region-b ha promote --force
 *   argocd-agent ctl ha status -a 127.0.0.1:8405 -o json
 */
import type { Command } from "commander";
import { parseDuration } from "../settings/parse-values.ts";
import { CtlError, ctlContext, type CtlContext } from "./ctl-context.ts";
import { haAdminClient, type HaAdmin } from "./ha-admin-client.ts";
import { openPrincipalPortForward } from "./ha-port-forward.ts";
import { renderHaStatus } from "./ha-status-output.ts";
import { summaryFormat } from "./pki-output.ts";
import { stdinAnswers, type Answers } from "./stdin-answers.ts";

interface HaFlags {
  address?: string;
  timeout: string;
  force?: boolean;
  output?: string;
}

interface HaTarget {
  /** -a/--address, validated; undefined: port-forward to the principal pod. */
  address?: string;
  timeoutMs: number;
  timeoutText: string;
}

/** Validates the flags before any prompt or dial (exit 2 naming the flag). */
function haTarget(flags: HaFlags): HaTarget {
  let ms: number;
  try {
    ms = parseDuration(flags.timeout);
  } catch (err) {
    throw new CtlError(`-t/--timeout "${flags.timeout}": ${(err as Error).message}`, 2);
  }
  if (ms <= 0) throw new CtlError(`-t/--timeout must be more than 0, got "${flags.timeout}"`, 2);
  if (flags.address !== undefined && !/^\S+:\d+$/.test(flags.address)) {
    throw new CtlError(`-a/--address must be host:port, got "${flags.address}"`, 2);
  }
  return { address: flags.address, timeoutMs: ms, timeoutText: flags.timeout };
}

/** Runs `work` against the admin API of the target, within the timeout (port-forward set-up included). */
async function withAdmin<T>(ctx: CtlContext, t: HaTarget, work: (admin: HaAdmin, deadline: number) => Promise<T>): Promise<T> {
  const deadline = Date.now() + t.timeoutMs;
  if (t.address !== undefined) {
    const admin = haAdminClient(t.address, t.address);
    try {
      return await work(admin, deadline);
    } finally {
      admin.close();
    }
  }
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

export async function haStatus(ctx: CtlContext, flags: HaFlags): Promise<void> {
  const format = summaryFormat(flags.output ?? "text");
  const t = haTarget(flags);
  const status = await withAdmin(ctx, t, (admin, deadline) => admin.status(deadline));
  ctx.out(renderHaStatus(status, format, Date.now()));
}

export async function haPromote(ctx: CtlContext, flags: HaFlags, answers: () => Answers): Promise<void> {
  const t = haTarget(flags);
  if (!flags.force && !(await confirmed(ctx, "WARNING: This will promote the principal to ACTIVE.", answers))) return;
  const state = await withAdmin(ctx, t, (admin, deadline) => admin.promote(flags.force === true, deadline));
  ctx.out(`Promoted. State is now: ${state}`);
}

export async function haDemote(ctx: CtlContext, flags: HaFlags, answers: () => Answers): Promise<void> {
  const t = haTarget(flags);
  if (!flags.force && !(await confirmed(ctx, "WARNING: This will demote the principal to REPLICA.", answers))) return;
  const state = await withAdmin(ctx, t, (admin, deadline) => admin.demote(deadline));
  ctx.out(`Demoted. State is now: ${state}`);
}

export function registerHaCommands(ctl: Command, out: (s: string) => void): void {
  const ha = ctl.command("ha").description("Principal high availability: status, promote, demote (HA admin API, port 8405 of the principal pod)");
  const address = ["-a, --address <host:port>", "HA admin API address to dial directly (default: port-forward to the principal pod's 8405)"] as const;
  ha.command("status")
    .description("Show the principal's HA state, role, peer and replication progress")
    .option(...address)
    .option("-o, --output <format>", "output format: text, yaml or json", "text")
    .option("-t, --timeout <duration>", "how long to wait for the answer", "10s")
    .action(async (o: HaFlags, cmd: Command) => haStatus(ctlContext(cmd, out), o));
  ha.command("promote")
    .description("Make the principal ACTIVE (asks first unless --force)")
    .option(...address)
    .option("-f, --force", "do not ask, and promote even while the replication stream to the peer is up (the peer may still be active)", false)
    .option("-t, --timeout <duration>", "how long to wait for the answer", "30s")
    .action(async (o: HaFlags, cmd: Command) => haPromote(ctlContext(cmd, out), o, () => stdinAnswers()));
  ha.command("demote")
    .description("Make an ACTIVE principal a replica; its agents are disconnected (asks first unless --force)")
    .option(...address)
    .option("-f, --force", "do not ask", false)
    .option("-t, --timeout <duration>", "how long to wait for the answer", "30s")
    .action(async (o: HaFlags, cmd: Command) => haDemote(ctlContext(cmd, out), o, () => stdinAnswers()));
}
