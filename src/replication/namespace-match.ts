/**
 * Argo CD's list matching for namespace allow-lists (argo-cd util/glob/list.go):
 * an entry wrapped in `/…/` is a regular expression, anything else a glob
 * with `*`, `?`, `[…]` and `{a,b}` (no separators, so `*` matches anything).
 */
import { compileGoRegexp } from "../auth/go-regexp.ts";

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        let body = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body}]`;
        i = end;
      }
    } else if (c === "{") {
      const end = glob.indexOf("}", i + 1);
      if (end < 0) re += "\\{";
      else {
        re += `(?:${glob.slice(i + 1, end).split(",").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`;
        i = end;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

export type NamespaceMatcher = (ns: string) => boolean;

export function namespaceMatcher(entries: readonly string[]): NamespaceMatcher {
  const tests = entries.filter((e) => e !== "").map((e): ((s: string) => boolean) => {
    if (e.length > 2 && e.startsWith("/") && e.endsWith("/")) {
      const re = compileGoRegexp(e.slice(1, -1)).regexp;
      return (s) => re.test(s);
    }
    const re = globToRegExp(e);
    return (s) => re.test(s);
  });
  return (ns) => tests.some((t) => t(ns));
}
