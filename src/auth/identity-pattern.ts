/**
 * The extraction pattern shared by header and mtls auth: a Go RE2 regex whose capture
 * group 1 is the agent ID, searched unanchored (Go `FindStringSubmatch`).
 */
import { AUTH_SETTING_FORMS, AuthConfigError } from "./config-error.ts";
import { compileGoRegexp, GoRegexpError, type CompiledGoRegexp } from "./go-regexp.ts";

/**
 * Compiles `pattern` for the `--auth` value `setting`.
 * Stricter than upstream: a pattern without a capture group is refused at start (upstream
 * accepts it and then fails every authentication).
 * @throws AuthConfigError
 */
export function compileIdentityPattern(pattern: string, setting: string): CompiledGoRegexp {
  if (pattern === "") {
    throw new AuthConfigError("--auth", setting, "the extraction regex is empty", AUTH_SETTING_FORMS);
  }
  let compiled: CompiledGoRegexp;
  try {
    compiled = compileGoRegexp(pattern);
  } catch (err) {
    const why = err instanceof GoRegexpError ? err.message.replace(/^error parsing regexp: /, "") : String(err);
    throw new AuthConfigError(
      "--auth",
      setting,
      `the extraction regex ${JSON.stringify(pattern)} is not valid Go RE2 syntax: ${why}`,
      AUTH_SETTING_FORMS,
      { cause: err },
    );
  }
  if (compiled.groups < 1) {
    throw new AuthConfigError(
      "--auth",
      setting,
      `the extraction regex ${JSON.stringify(pattern)} has no capture group; group 1 must capture the agent ID, e.g. CN=([^,]+)`,
      AUTH_SETTING_FORMS,
    );
  }
  return compiled;
}

/** Runs the pattern the way Go does: first match anywhere; a non-participating group 1 is "". */
export function matchIdentity(compiled: CompiledGoRegexp, text: string): { matched: false } | { matched: true; agentId: string } {
  const m = compiled.regexp.exec(text);
  if (!m) return { matched: false };
  return { matched: true, agentId: m[1] ?? "" };
}
