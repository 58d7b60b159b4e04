/**
 * Small builders for the settings tables, so each row reads like the spec's
 * tables: flag, env suffix, ConfigMap key suffix, type, default, help.
 */
import type { SettingDef, SettingType } from "./types.ts";

interface Extra {
  short?: string;
  choices?: readonly string[];
  zero?: string;
  min?: number;
  unsupported?: string;
  extension?: boolean;
  /** The env var name is used as given, without the component prefix (e.g. REDIS_PASSWORD). */
  verbatimEnv?: boolean;
}

export type Def<N extends string, T extends SettingType> = SettingDef & { readonly name: N; readonly type: T };

/** Returns a row builder for one component's prefixes. */
export function define(envPrefix: string, configMapPrefix: string) {
  return <N extends string, T extends SettingType>(
    name: N,
    env: string | undefined,
    configMapKey: string | undefined,
    type: T,
    dflt: string,
    help: string,
    extra: Extra = {},
  ): Def<N, T> => {
    const { verbatimEnv, ...rest } = extra;
    return {
      name,
      flag: true,
      env: env === undefined ? undefined : verbatimEnv ? env : envPrefix + env,
      configMapKey: configMapKey === undefined ? undefined : configMapPrefix + configMapKey,
      type,
      default: dflt,
      help,
      ...rest,
    };
  };
}

export type RowBuilder = ReturnType<typeof define>;

/** The message of a setting whose feature is not implemented yet. */
export function notYet(feature: string): string {
  return `${feature} is not implemented in argocd-agent-ts yet`;
}

/** --log-level and --log-format, the same in both components. */
export function logSettings(s: RowBuilder) {
  return [
    s("log-level", "LOG_LEVEL", "log.level", "loglevels", "info", "Log level, optionally per component: info,grpc-event=debug (levels trace, debug, info, warning|warn, error, fatal)"),
    s("log-format", "LOG_FORMAT", "log.format", "enum", "text", "Log format", { choices: ["text", "json"] }),
  ] as const;
}

/** Env-only knobs read by both components, with the ARGOCD_AGENT_ prefix even in the principal. */
export function envOnlyKnobs() {
  const knob = <N extends string>(name: N, env: string, dflt: string, help: string): Def<N, "int"> => ({
    name,
    flag: false,
    env,
    type: "int",
    default: dflt,
    min: 1,
    help,
  });
  return [
    knob("kube-qps", "ARGOCD_AGENT_KUBE_QPS", "100", "Kubernetes client queries per second"),
    knob("kube-burst", "ARGOCD_AGENT_KUBE_BURST", "300", "Kubernetes client burst"),
    knob("recv-queue-size", "ARGOCD_AGENT_RECV_QUEUE_SIZE", "1000", "Capacity of each receive queue (events)"),
    knob("send-queue-size", "ARGOCD_AGENT_SEND_QUEUE_SIZE", "1000", "Capacity of each send queue (events)"),
  ] as const;
}
