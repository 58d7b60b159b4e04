/**
 * Structured logging on top of tslog, with one logger per component and
 * per-component levels (`--log-level info,grpc-event=debug`).
 *
 * @example
 *   const log = getLogger("principal");
 *   log.info("agent connected", { agent: "edge-1" });
 */
import { Logger, type ILogObj } from "tslog";

/** Log levels, as upstream names them (`warn` is accepted as an alias of `warning`). */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = "text" | "json";
export type LogFields = Record<string, unknown>;

/** Subsystems that take their own level, as upstream's `[subsystem=]level` list names them. */
export const LOG_SUBSYSTEMS = ["resource-proxy", "redis-proxy", "grpc-event", "informer-event-buffer"] as const;

/** Our own components; each may also take its own level (`--log-level info,auth=debug`). */
export const LOG_COMPONENTS = [
  "principal",
  "agent",
  "auth",
  "transport",
  "kube",
  "replication",
  "events",
  "observability",
  "diagnostics",
  "ha",
] as const;

const TSLOG_LEVEL: Record<LogLevel, number> = { trace: 1, debug: 2, info: 3, warning: 4, error: 5, fatal: 6 };
const LEVEL_NAME: Record<number, LogLevel> = { 1: "trace", 2: "debug", 3: "info", 4: "warning", 5: "error", 6: "fatal" };

interface LogConfig {
  format: LogFormat;
  defaultLevel: LogLevel;
  levels: Record<string, LogLevel>;
  write: (line: string) => void;
}

const config: LogConfig = {
  format: "text",
  defaultLevel: "info",
  levels: {},
  write: (line) => process.stderr.write(line + "\n"),
};

const loggers = new Map<string, ComponentLogger>();

/** Parses a level name; `warn` is an alias of `warning`. Returns undefined for unknown names. */
export function parseLogLevel(value: string): LogLevel | undefined {
  const v = value.trim().toLowerCase();
  if (v === "warn") return "warning";
  return (LOG_LEVELS as readonly string[]).includes(v) ? (v as LogLevel) : undefined;
}

/** Applies format and levels to every logger, existing and future. */
export function configureLogging(opts: {
  format?: LogFormat;
  defaultLevel?: LogLevel;
  levels?: Record<string, LogLevel>;
  write?: (line: string) => void;
}): void {
  if (opts.format) config.format = opts.format;
  if (opts.defaultLevel) config.defaultLevel = opts.defaultLevel;
  if (opts.levels) config.levels = { ...opts.levels };
  if (opts.write) config.write = opts.write;
  for (const [name, l] of loggers) l.setLevel(config.levels[name] ?? config.defaultLevel);
}

/** Returns the logger of a component (created once, reconfigured by configureLogging). */
export function getLogger(component: string): ComponentLogger {
  let l = loggers.get(component);
  if (!l) {
    l = new ComponentLogger(component, config.levels[component] ?? config.defaultLevel);
    loggers.set(component, l);
  }
  return l;
}

function formatValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === "string") return /^[\w./:@-]*$/.test(v) && v !== "" ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

function render(level: LogLevel, component: string, msg: string, fields: LogFields): string {
  const time = new Date().toISOString();
  if (config.format === "json") {
    const out: LogFields = { time, level, component, msg };
    for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? v.message : v;
    return JSON.stringify(out);
  }
  let line = `time=${time} level=${level} component=${component} msg=${JSON.stringify(msg)}`;
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
  return line;
}

/** A component's logger: tslog decides what is enabled, we decide how it looks. */
export class ComponentLogger {
  readonly component: string;
  private readonly tslog: Logger<ILogObj>;

  constructor(component: string, level: LogLevel) {
    this.component = component;
    this.tslog = new Logger<ILogObj>({ name: component, type: "hidden", minLevel: TSLOG_LEVEL[level], stack: { capture: "off" } }); // render() shows no code position; capturing it cost ~5× per line
    this.tslog.attachTransport((obj: ILogObj) => {
      const meta = (obj["_logMeta"] ?? obj["_meta"]) as { logLevelId: number } | undefined;
      const msg = String(obj["0"] ?? "");
      const fields = (obj["1"] as LogFields | undefined) ?? {};
      config.write(render(LEVEL_NAME[meta?.logLevelId ?? 3] ?? "info", this.component, msg, fields));
    });
  }

  setLevel(level: LogLevel): void {
    this.tslog.settings.minLevel = TSLOG_LEVEL[level];
  }

  /** True when a message at this level would be written (guards expensive field building). */
  enabled(level: LogLevel): boolean {
    return TSLOG_LEVEL[level] >= this.tslog.settings.minLevel;
  }

  trace(msg: string, fields?: LogFields): void { this.tslog.trace(msg, fields ?? {}); }
  debug(msg: string, fields?: LogFields): void { this.tslog.debug(msg, fields ?? {}); }
  info(msg: string, fields?: LogFields): void { this.tslog.info(msg, fields ?? {}); }
  warn(msg: string, fields?: LogFields): void { this.tslog.warn(msg, fields ?? {}); }
  error(msg: string, fields?: LogFields): void { this.tslog.error(msg, fields ?? {}); }
  fatal(msg: string, fields?: LogFields): void { this.tslog.fatal(msg, fields ?? {}); }
}
