/**
 * Compiles an extraction pattern written for the Go principal (Go `regexp`, RE2 syntax)
 * with re2js, a JavaScript port of RE2 that parses Go's syntax and error messages and
 * matches in linear time, so one `--auth` value means the same to both implementations
 * and no header value can make matching slow. What Go refuses (lookaround,
 * backreferences, `\C`, repeat counts over 1000) is refused here too.
 *
 * @example
 *   compileGoRegexp("^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)").regexp.exec(xfcc)?.[1]
 */
import { RE2JS, RE2JSException } from "re2js";

/** A pattern that the Go principal would not accept. */
export class GoRegexpError extends Error {
  override name = "GoRegexpError";
  readonly pattern: string;
  constructor(pattern: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.pattern = pattern;
  }
}

export interface CompiledGoRegexp {
  /** The compiled pattern: `exec` (RegExp-shaped result) and `test`, unanchored like Go's Find. */
  regexp: RE2JS;
  /** Number of capturing groups; group 1 is the agent ID. */
  groups: number;
  /** The original Go pattern, for logs and diagnostics. */
  source: string;
}

/** @throws GoRegexpError with Go's own message, e.g. "error parsing regexp: missing closing ): `(a`". */
export function compileGoRegexp(pattern: string): CompiledGoRegexp {
  try {
    const regexp = RE2JS.compile(pattern);
    return { regexp, groups: regexp.groupCount(), source: pattern };
  } catch (err) {
    if (err instanceof RE2JSException) throw new GoRegexpError(pattern, err.message, { cause: err });
    throw err;
  }
}
