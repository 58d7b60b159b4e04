/**
 * The one error thrown for unusable auth configuration (`--auth`, `--creds`, and the
 * auth/TLS pairing checks). Its message names the setting, the offending value and what
 * would be accepted, so the operator can fix it without reading code.
 *
 * @example
 *   throw new AuthConfigError("--auth", "foo:bar", 'unknown method "foo"', AUTH_SETTING_FORMS);
 */
export class AuthConfigError extends Error {
  override name = "AuthConfigError";
  /** The setting at fault, e.g. `--auth`. */
  readonly setting: string;
  /** The value as given (never a secret: auth settings hold names, patterns and paths). */
  readonly value: string;
  /** What is wrong, without the setting/value prefix. */
  readonly problem: string;

  constructor(setting: string, value: string, problem: string, accepted?: string, options?: { cause?: unknown }) {
    super(
      `invalid ${setting} ${JSON.stringify(value)}: ${problem}` + (accepted ? `; accepted: ${accepted}` : ""),
      options,
    );
    this.setting = setting;
    this.value = value;
    this.problem = problem;
  }
}

/** Accepted `--auth` forms, quoted in every error about it. */
export const AUTH_SETTING_FORMS =
  "header:<header-name>:<regex>, mtls:subject:<regex>, mtls:uri:<regex>, " +
  "mtls:<regex> (deprecated, same as mtls:subject:), userpass:<path> (deprecated)";

/** Accepted `--creds` forms. */
export const AGENT_CREDS_FORMS = "header:, mtls:<anything>, userpass:<file whose first line is id:secret>";
