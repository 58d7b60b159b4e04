/**
 * Builds the `principal` and `agent` subcommands from their settings tables:
 * options and --help come from the table, values are resolved flag > env >
 * default, logging is configured, and the component runs until SIGTERM/SIGINT,
 * giving freed heap memory back whenever it goes quiet (./idle-memory-release.ts).
 */
import { Command } from "commander";
import { configureLogging, getLogger, LOG_COMPONENTS, type LogFormat } from "../observability/log.ts";
import { addSettingOptions, describeSetting, resolveSettings } from "../settings/resolve.ts";
import type { LogLevels, SettingDef, SettingValues } from "../settings/types.ts";
import { IdleMemoryRelease } from "./idle-memory-release.ts";

/** A start-up error caused by configuration: printed as-is, exit code 2. */
export class StartupError extends Error {
  override name = "StartupError";
  readonly exitCode = 2;
}

export type ComponentRunner<T extends readonly SettingDef[]> = (
  values: SettingValues<T>,
  signal: AbortSignal,
) => Promise<void>;

export function componentCommand<T extends readonly SettingDef[]>(
  name: string,
  description: string,
  table: T,
  run: ComponentRunner<T>,
  env: NodeJS.ProcessEnv = process.env,
): Command {
  const cmd = new Command(name)
    .description(description)
    .helpOption("-h, --help", "show all settings")
    // The description already carries env var, ConfigMap key and default; hide commander's "(preset: …)".
    .configureHelp({ optionDescription: (opt) => opt.description });
  addSettingOptions(cmd, table);
  const envOnly = table.filter((d) => !d.flag);
  if (envOnly.length) {
    cmd.addHelpText(
      "after",
      "\nEnvironment-only settings:\n" + envOnly.map((d) => `  ${d.env!.padEnd(34)} ${describeSetting(d)}`).join("\n"),
    );
  }
  cmd.action(async (opts: Record<string, unknown>) => {
    const { values } = resolveSettings(table, opts, env, LOG_COMPONENTS);
    const v = values as Record<string, unknown>;
    const levels = v["logLevel"] as LogLevels;
    configureLogging({ format: v["logFormat"] as LogFormat, defaultLevel: levels.defaultLevel, levels: levels.levels });
    const controller = new AbortController();
    const log = getLogger(name);
    const stop = (sig: string) => {
      if (controller.signal.aborted) return;
      log.info("shutting down", { signal: sig });
      controller.abort(new Error(`received ${sig}`));
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
    // Heap pages freed after a burst go back to the system once the component is quiet (issue #19).
    const release = new IdleMemoryRelease({ onRelease: (r) => getLogger("observability").debug("idle: memory released", { ...r }) });
    release.start();
    try {
      await run(values, controller.signal);
    } finally {
      release.stop();
    }
  });
  return cmd;
}
