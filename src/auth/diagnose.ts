/**
 * For the diagnostics subcommand: explains, step by step, what header auth would make of a
 * header value, so an operator can test an `--auth header:…` setting against a value
 * copied from the sidecar (e.g. Envoy's config dump or an access log) without a cluster.
 *
 * @example
 *   diagnoseHeaderAuth(
 *     "header:x-forwarded-client-cert:^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)",
 *     'By=spiffe://cluster.local/ns/argocd/sa/principal;Hash=abc;Subject="";URI=spiffe://cluster.local/ns/argocd/sa/agent-1',
 *   ) // → { ok: true, agentId: "agent-1", steps: [...] }
 */
import { AuthConfigError } from "./config-error.ts";
import { HeaderIdentity } from "./header-identity.ts";
import { parseAuthSetting, type AuthMethod } from "./method.ts";

export type HeaderAuthDiagnosis =
  | { ok: true; agentId: string; steps: string[] }
  | { ok: false; error: string; detail: string; steps: string[] };

/** Runs `headerValue` through the header method configured by `authSetting` and explains each step. */
export function diagnoseHeaderAuth(authSetting: string, headerValue: string): HeaderAuthDiagnosis {
  const steps: string[] = [];
  let method: AuthMethod;
  try {
    method = parseAuthSetting(authSetting);
  } catch (err) {
    const detail = err instanceof AuthConfigError ? err.problem : String((err as Error)?.message ?? err);
    steps.push(`FAIL: the --auth setting is invalid: ${detail}`);
    return { ok: false, error: "invalid --auth setting", detail, steps };
  }
  if (!(method instanceof HeaderIdentity)) {
    const detail = `--auth selects the ${method.name} method; this check only applies to header:<header-name>:<regex>`;
    steps.push(`FAIL: ${detail}`);
    return { ok: false, error: "not a header auth setting", detail, steps };
  }
  steps.push(`--auth parsed: header '${method.metadataKey}' (matched case-insensitively), Go RE2 regex ${method.pattern.source}`);
  const result = method.extract([headerValue], steps);
  if (result.ok) return { ok: true, agentId: result.agentId, steps };
  return { ok: false, error: "authentication would fail", detail: result.reason, steps };
}
