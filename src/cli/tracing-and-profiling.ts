/**
 * What principal and agent start besides their own work when asked to:
 * OpenTelemetry tracing (--otlp-address, --otlp-insecure; src/tracing/) and the
 * profiling endpoint (--pprof-port; src/observability/profiling.ts). Both are
 * off by default and then cost nothing: neither module's heavy part is loaded.
 * Problems are StartupErrors that name the flag (exit code 2).
 *
 * @example
 *   const tools = await startTracingAndProfiling(cfg, { serviceName: "principal", component: "principal" });
 *   ...
 *   await tools.close(); // last: flushes the spans of everything that shut down before
 */
import { StartupError } from "./component-command.ts";
import { startTracing, type TracingOptions } from "../tracing/tracing.ts";

export interface TracingAndProfilingSettings {
  otlpAddress: string;
  otlpInsecure: boolean;
  pprofPort: number;
}

export async function startTracingAndProfiling(
  cfg: TracingAndProfilingSettings,
  who: Pick<TracingOptions, "serviceName" | "component" | "agentMode" | "agentName">,
): Promise<{ close(): Promise<void> }> {
  const fail = (err: unknown): never => {
    throw new StartupError((err as Error).message);
  };
  const tracing = cfg.otlpAddress ? await startTracing({ ...who, address: cfg.otlpAddress, insecure: cfg.otlpInsecure }).catch(fail) : undefined;
  let pprof: { close(): Promise<void> } | undefined;
  if (cfg.pprofPort) {
    const { startProfilingServer } = await import("../observability/profiling.ts");
    pprof = await startProfilingServer({ port: cfg.pprofPort }).catch(async (err: unknown) => {
      await tracing?.shutdown();
      return fail(err);
    });
  }
  return {
    async close() {
      await pprof?.close();
      await tracing?.shutdown();
    },
  };
}
