/**
 * The shape of one setting. Each component (principal, agent) declares all of
 * its settings once, in a table of these; the CLI, env parsing, `--help`, the
 * docs and the manifests' env wiring are all derived from that table.
 */
import type { LogLevel } from "../observability/log.ts";

export type SettingType =
  | "string"
  | "path"
  | "bool"
  | "int"
  | "port"
  | "duration"
  | "list"
  | "kvlist"
  | "regex"
  | "enum"
  | "loglevels";

export interface SettingDef {
  /** Flag name without dashes; also the key of the parsed value (camel-cased). */
  readonly name: string;
  /** False for env-only knobs that have no flag. */
  readonly flag: boolean;
  readonly short?: string;
  /** Full environment variable name. */
  readonly env?: string;
  /** Full key in the `argocd-agent-params` ConfigMap, when manifests wire one. */
  readonly configMapKey?: string;
  readonly type: SettingType;
  /** Default as the user would write it (string form), e.g. "8443", "30s", "a,b", "". */
  readonly default: string;
  readonly choices?: readonly string[];
  /** For ports and ints: is 0 allowed, and what it means. */
  readonly zero?: string;
  /** For ints: the smallest value accepted (ports are 1–65535 regardless). */
  readonly min?: number;
  readonly help: string;
  /** Set when the feature behind this setting is not implemented: a non-default value is refused. */
  readonly unsupported?: string;
  /** Ours, not upstream's (documented as an extension). */
  readonly extension?: boolean;
}

export interface LogLevels {
  defaultLevel: LogLevel;
  levels: Record<string, LogLevel>;
}

/** Parsed value types, by setting type. */
export type ValueOf<D extends SettingDef> = D["type"] extends "bool"
  ? boolean
  : D["type"] extends "int" | "port" | "duration"
    ? number
    : D["type"] extends "list"
      ? string[]
      : D["type"] extends "kvlist"
        ? Record<string, string>
        : D["type"] extends "regex"
          ? RegExp | undefined
          : D["type"] extends "loglevels"
            ? LogLevels
            : string;

type CamelCase<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;

/** The parsed configuration of a component: one camel-cased property per setting. */
export type SettingValues<T extends readonly SettingDef[]> = {
  [D in T[number] as CamelCase<D["name"]>]: ValueOf<D>;
};

/** Where each parsed value came from, for logging and for "not supported yet" errors. */
export type ValueSource = "flag" | "env" | "default";

/** A settings error: printed as-is and the process exits with code 2. */
export class SettingsError extends Error {
  override name = "SettingsError";
  readonly exitCode = 2;
}

export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
