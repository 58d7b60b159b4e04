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
 * replication stream to the peer is still up). Flags, help and flag checks
 * only; the work is in ha-run.ts, loaded when a command runs.
 *
 * @example
 *   argocd-agent ctl --principal-context region-b ha status
 *   argocd-agent ctl --principal-context region-b ha promote --force
 *   argocd-agent ctl ha status -a 127.0.0.1:8405 -o json
 */
import type { Command } from "commander";
import { parseDuration } from "../settings/parse-values.ts";
import { CtlError, ctlContext } from "./ctl-context.ts";
import type { HaTarget } from "./ha-run.ts";
import { summaryFormat } from "./pki-output.ts";
import { stdinAnswers } from "./stdin-answers.ts";

interface HaFlags {
  address?: string;
  timeout: string;
  force?: boolean;
  output?: string;
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

export function registerHaCommands(ctl: Command, out: (s: string) => void): void {
  const ha = ctl.command("ha").description("Principal high availability: status, promote, demote (HA admin API, port 8405 of the principal pod)");
  const address = ["-a, --address <host:port>", "HA admin API address to dial directly (default: port-forward to the principal pod's 8405)"] as const;
  ha.command("status")
    .description("Show the principal's HA state, role, peer and replication progress")
    .option(...address)
    .option("-o, --output <format>", "output format: text, yaml or json", "text")
    .option("-t, --timeout <duration>", "how long to wait for the answer", "10s")
    .action(async (o: HaFlags, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      const format = summaryFormat(o.output ?? "text");
      const t = haTarget(o);
      await (await import("./ha-run.ts")).haStatus(ctx, t, format);
    });
  ha.command("promote")
    .description("Make the principal ACTIVE (asks first unless --force)")
    .option(...address)
    .option("-f, --force", "do not ask, and promote even while the replication stream to the peer is up (the peer may still be active)", false)
    .option("-t, --timeout <duration>", "how long to wait for the answer", "30s")
    .action(async (o: HaFlags, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      const t = haTarget(o);
      await (await import("./ha-run.ts")).haPromote(ctx, t, o.force === true, () => stdinAnswers());
    });
  ha.command("demote")
    .description("Make an ACTIVE principal a replica; its agents are disconnected (asks first unless --force)")
    .option(...address)
    .option("-f, --force", "do not ask", false)
    .option("-t, --timeout <duration>", "how long to wait for the answer", "30s")
    .action(async (o: HaFlags, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      const t = haTarget(o);
      await (await import("./ha-run.ts")).haDemote(ctx, t, o.force === true, () => stdinAnswers());
    });
}
