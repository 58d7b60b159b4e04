/**
 * Argo CD's list matching for namespace allow-lists (argo-cd util/glob/list.go
 * `MatchStringInList(list, item, REGEXP)`): an entry wrapped in `/…/` is a Go
 * regular expression (unanchored, as Go's MatchString), anything else a
 * gobwas/glob pattern without separators (argo-cd util/glob/glob.go).
 *
 * The glob dialect is gobwas's: `*` and `**` any run of characters, `?` one
 * character, `[abc]` / `[!abc]` a set, `[a-z]` / `[!a-z]` one range (a set and
 * a range cannot be mixed in one bracket), `{a,b*}` alternatives that are
 * patterns themselves (nestable), `\x` a literal x. A pattern gobwas cannot
 * compile (unclosed `[` or `{`, trailing `\`, `[a-z0-9]`) matches nothing, as
 * Argo CD logs a warning and returns false.
 *
 * @example
 *   namespaceMatcher(["team-*", "/^prod-[0-9]+$/"])("team-a") // true
 *   globMatch("agent-{eu,us}-?", "agent-eu-1")                // true
 */
import { compileGoRegexp } from "../auth/go-regexp.ts";

class GlobSyntaxError extends Error {}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const escapeClass = (s: string): string => s.replace(/[\]\\^[-]/g, "\\$&");

/** Parses a gobwas glob into a JS regexp source; throws GlobSyntaxError where gobwas fails to compile. */
function globSource(pattern: string): string {
  const chars = [...pattern];
  let i = 0;
  const seq = (inTerms: boolean): string => {
    let out = "";
    while (i < chars.length) {
      const c = chars[i]!;
      if (inTerms && (c === "," || c === "}")) return out;
      i++;
      if (c === "*") {
        if (chars[i] === "*") i++; // `**` (super) equals `*` without separators
        out += "[^]*";
      } else if (c === "?") out += "[^]";
      else if (c === "[") out += range();
      else if (c === "{") out += terms();
      else if (c === "\\") {
        if (i >= chars.length) throw new GlobSyntaxError("trailing backslash");
        out += escapeRe(chars[i++]!);
      } else out += escapeRe(c);
    }
    if (inTerms) throw new GlobSyntaxError("unclosed {");
    return out;
  };
  const terms = (): string => {
    const alts: string[] = [];
    for (;;) {
      alts.push(seq(true));
      const c = chars[i++];
      if (c === "}") return `(?:${alts.join("|")})`;
      if (c !== ",") throw new GlobSyntaxError("unclosed {");
    }
  };
  const range = (): string => {
    let not = false;
    if (chars[i] === "!") {
      not = true;
      i++;
    }
    if (i >= chars.length) throw new GlobSyntaxError("unclosed [");
    let body: string;
    if (chars[i + 1] === "-" && i + 2 < chars.length) {
      const lo = chars[i]!;
      const hi = chars[i + 2]!;
      i += 3;
      body = `${escapeClass(lo)}-${escapeClass(hi)}`;
      if (lo > hi) throw new GlobSyntaxError("inverted range");
    } else {
      let set = "";
      while (i < chars.length && chars[i] !== "]") {
        if (chars[i] === "\\") {
          i++;
          if (i >= chars.length) throw new GlobSyntaxError("trailing backslash");
        }
        set += escapeClass(chars[i++]!);
      }
      if (!set) throw new GlobSyntaxError("empty character class");
      body = set;
    }
    if (chars[i] !== "]") throw new GlobSyntaxError("expected ]");
    i++;
    return `[${not ? "^" : ""}${body}]`;
  };
  return seq(false);
}

const globCache = new Map<string, RegExp | null>();

/** Compiles a gobwas glob (no separators); null when gobwas would refuse it. */
export function compileGlob(pattern: string): RegExp | null {
  let re = globCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(`^(?:${globSource(pattern)})$`, "u");
    } catch {
      re = null;
    }
    if (globCache.size > 1000) globCache.clear();
    globCache.set(pattern, re);
  }
  return re;
}

/** argo-cd glob.Match(pattern, text): false for a pattern that does not compile. */
export function globMatch(pattern: string, text: string): boolean {
  return compileGlob(pattern)?.test(text) ?? false;
}

export type NamespaceMatcher = (ns: string) => boolean;

/** argo-cd glob.MatchStringInList(entries, ns, REGEXP). */
export function namespaceMatcher(entries: readonly string[]): NamespaceMatcher {
  const tests = entries.map((e): ((s: string) => boolean) => {
    if (e.length >= 2 && e.startsWith("/") && e.endsWith("/")) {
      let re: { test(s: string): boolean } | undefined;
      try {
        re = compileGoRegexp(e.slice(1, -1)).regexp;
      } catch {
        re = undefined; // Go logs the bad regexp and falls through to the glob test
      }
      const glob = compileGlob(e);
      return (s) => Boolean(re?.test(s)) || Boolean(glob?.test(s));
    }
    const glob = compileGlob(e);
    return (s) => Boolean(glob?.test(s));
  });
  return (ns) => tests.some((t) => t(ns));
}
