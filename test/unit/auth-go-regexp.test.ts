// Go RE2 patterns compiled with re2js: expectations below were produced by Go's regexp.FindStringSubmatch.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileGoRegexp, GoRegexpError } from "../../src/auth/go-regexp.ts";

// [pattern, input, Go's group 1 (null = no match)]
const SAME_AS_GO: Array<[string, string, string | null]> = [
  ["^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)", 'By=spiffe://c/ns/argocd/sa/p;Hash=abc;Subject="";URI=spiffe://c/ns/argocd/sa/agent-1', "agent-1"],
  ["^([^.]+)\\..*", "agent-1.argocd.serviceaccount.identity.linkerd.cluster.local", "agent-1"],
  ["(?i)cn=([a-z0-9-]+)", "CN=AGENT-1,O=org", "AGENT-1"],
  ["a(?i)b|c([a-z])", "xxcZ", "Z"],
  ["(?P<id>[a-z]+)-\\d", "zz abc-1", "abc"],
  ["\\A([a-z]+)\\z", "abc\n", null],
  ["(?m)^([a-z]+)$", "x1\nabc\ndef", "abc"],
  ["(.)", "\r", "\r"],
  ["(.)", "\n", null],
  ["(?s)(.)", "\n", "\n"],
  ["x(\\s)", "x\u00a0", null],
  ["([]a]+)", "b]a]c", "]a]"],
  ["a{,2}(b)", "a{,2}b", "b"],
  ["(?U)(a+)", "aaa", "a"],
  ["([[:^digit:]-]+)", "12ab-C3", "ab-C"],
  ["(\\p{Greek}+)", "abαβγ", "αβγ"],
  ["(\\Q.*\\E)", "a.*b", ".*"],
  ["(\\-\\:\\,)", "-:,", "-:,"],
  ["([/]+)", "a//b", "//"],
  ["(?i:A)(b)", "aB", null],
  ["(?:(a)|b)+", "ab", "a"], // a group in a repeated group keeps its last participating value
];

const REFUSED_BY_GO = ["(a)(?=b)", "(a)\\1", "(a{1001})", "(a", "a)", "(\\C)", "(\\e)", "(a**)", "([z-a])", "(?P=n)"];

describe("compileGoRegexp", () => {
  it("matches like Go's regexp", () => {
    for (const [pattern, input, g1] of SAME_AS_GO) {
      const m = compileGoRegexp(pattern).regexp.exec(input);
      assert.equal(m ? (m[1] ?? "") : null, g1, `${pattern} on ${JSON.stringify(input)}`);
    }
  });

  it("refuses what Go refuses", () => {
    for (const pattern of REFUSED_BY_GO) assert.throws(() => compileGoRegexp(pattern), GoRegexpError, pattern);
  });

  it("matches in linear time: a pattern that makes a backtracking engine explode on 1 MiB", () => {
    const input = "a".repeat(1024 * 1024) + "!";
    const started = performance.now();
    assert.equal(compileGoRegexp("^(a+)+$").regexp.exec(input), null);
    const ms = performance.now() - started;
    assert.ok(ms < 5000, `took ${Math.round(ms)} ms`);
  });

  it("reports Go's own parse errors", () => {
    assert.throws(() => compileGoRegexp("(a"), { name: "GoRegexpError", message: "error parsing regexp: missing closing ): `(a`" });
  });

    it("counts capture groups (named ones too, not (?:…))", () => {
    assert.equal(compileGoRegexp("(?P<a>x)(?:y)(z)").groups, 2);
  });
});
