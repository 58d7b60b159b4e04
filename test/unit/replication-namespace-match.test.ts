/**
 * Allowed-namespace lists and AppProject matching follow Argo CD / gobwas
 * glob semantics (behavior.md §4, §5).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AppProject } from "../../src/kube/resources.ts";
import { compileGlob, globMatch, namespaceMatcher } from "../../src/replication/namespace-match.ts";
import { agentProjectCopy, projectMatchesAgent } from "../../src/replication/principal/principal-projects.ts";

test("glob wildcards: *, **, ? and literals", () => {
  const yes: [string, string][] = [
    ["*", "anything"], ["*", ""], ["agent-*", "agent-"], ["agent-*", "agent-eu-1"], ["**", "a.b"], ["a?c", "abc"], ["a.c", "a.c"],
    ["*-prod", "team-a-prod"], ["a*b*c", "aXbYc"], ["exact", "exact"],
  ];
  const no: [string, string][] = [
    ["agent-*", "agentx"], ["a?c", "ac"], ["a?c", "abbc"], ["a.c", "abc"], ["exact", "exact2"], ["exact", "xexact"], ["*-prod", "prod-x"],
  ];
  for (const [p, s] of yes) assert.ok(globMatch(p, s), `${p} should match ${s}`);
  for (const [p, s] of no) assert.ok(!globMatch(p, s), `${p} should not match ${s}`);
});

test("glob classes, ranges, alternatives and escapes", () => {
  assert.ok(globMatch("team-[abc]", "team-b"));
  assert.ok(!globMatch("team-[abc]", "team-d"));
  assert.ok(globMatch("team-[!abc]", "team-d"));
  assert.ok(!globMatch("team-[!abc]", "team-a"));
  assert.ok(globMatch("env-[0-9]", "env-7"));
  assert.ok(!globMatch("env-[0-9]", "env-x"));
  assert.ok(globMatch("env-[!0-9]", "env-x"));
  assert.ok(globMatch("{dev,staging}-*", "staging-eu"));
  assert.ok(!globMatch("{dev,staging}-*", "prod-eu"));
  assert.ok(globMatch("x-{a*,b?}", "x-a-long-tail"), "alternatives are patterns");
  assert.ok(globMatch("x-{a*,b?}", "x-b1"));
  assert.ok(!globMatch("x-{a*,b?}", "x-b12"));
  assert.ok(globMatch("x-{a,{b,c}d}", "x-cd"), "nested alternatives");
  assert.ok(globMatch("a\\*b", "a*b"));
  assert.ok(!globMatch("a\\*b", "aXb"), "escaped star is literal");
  assert.ok(globMatch("a,b}", "a,b}"), "comma and brace outside {} are literal");
  assert.ok(globMatch("[-]x", "-x"));
});

test("patterns gobwas cannot compile match nothing", () => {
  for (const bad of ["team-[abc", "{a,b", "trailing\\", "[a-z0-9]", "[]", "x-{a,{b}"]) {
    assert.equal(compileGlob(bad), null, bad);
    assert.ok(!globMatch(bad, bad), `${bad} must not even match itself`);
  }
  assert.ok(!namespaceMatcher(["team-[abc"])("team-a"));
});

test("namespace lists: globs and /regexp/ entries (unanchored, Go syntax)", () => {
  const m = namespaceMatcher(["agent-*", "/^prod-[0-9]+$/", "/staging/", "plain"]);
  for (const ns of ["agent-a", "prod-12", "eu-staging-1", "plain"]) assert.ok(m(ns), ns);
  for (const ns of ["prod-x", "prod-1a", "plain2", "other"]) assert.ok(!m(ns), ns);
  assert.ok(namespaceMatcher(["/(?i)^TEAM$/"])("team"), "Go inline flags");
  assert.ok(!namespaceMatcher([])("argocd"), "empty list allows nothing");
  assert.ok(!namespaceMatcher([""])("argocd"));
  assert.ok(namespaceMatcher(["//"])("anything"), "empty regexp matches everything, as in Go");
  assert.ok(!namespaceMatcher(["/(unclosed/"])("x"), "invalid regexp matches nothing");
});

const project = (spec: Record<string, unknown>): AppProject => ({ metadata: { name: "p", namespace: "argocd", uid: "u1" }, spec });

test("project matching: destination name globs, deny entries, server * and ?agentName=", () => {
  const base = { sourceNamespaces: ["*"] };
  assert.ok(projectMatchesAgent(project({ ...base, destinations: [{ name: "agent-*", namespace: "x" }] }), "agent-a"));
  assert.ok(!projectMatchesAgent(project({ ...base, destinations: [{ name: "agent-*", namespace: "x" }] }), "other"));
  assert.ok(projectMatchesAgent(project({ ...base, destinations: [{ server: "*", namespace: "*" }] }), "anyone"));
  assert.ok(projectMatchesAgent(project({ ...base, destinations: [{ server: "https://rp:9090?agentName=agent-{a,b}" }] }), "agent-b"));
  assert.ok(projectMatchesAgent(project({ ...base, destinations: [{ server: "argocd-agent-resource-proxy:9090?agentName=agent-a" }] }), "agent-a"));
  assert.ok(!projectMatchesAgent(project({ ...base, destinations: [{ server: "https://rp:9090?agentName=agent-a" }] }), "agent-b"));
  assert.ok(!projectMatchesAgent(project({ ...base, destinations: [{ server: "https://kubernetes.default.svc" }] }), "agent-a"));
  const deny = project({ ...base, destinations: [{ name: "agent-*" }, { name: "!agent-secret*" }] });
  assert.ok(projectMatchesAgent(deny, "agent-a"));
  assert.ok(!projectMatchesAgent(deny, "agent-secret-1"), "deny wins over a matching destination");
  assert.ok(!projectMatchesAgent(project({ ...base, destinations: [{ name: "/agent-.*/" }] }), "agent-a"), "destinations are globs, never regexps");
  assert.ok(!projectMatchesAgent(project({ ...base, destinations: [] }), "agent-a"));
  assert.ok(!projectMatchesAgent(project({ ...base }), "agent-a"));
});

test("project matching: sourceNamespaces required under namespace-based mapping only", () => {
  const dests = [{ name: "agent-*", namespace: "guestbook" }];
  assert.ok(!projectMatchesAgent(project({ destinations: dests }), "agent-a"));
  assert.ok(!projectMatchesAgent(project({ destinations: dests, sourceNamespaces: ["team-*"] }), "agent-a"));
  assert.ok(projectMatchesAgent(project({ destinations: dests, sourceNamespaces: ["team-*", "/^agent-[a-z]$/"] }), "agent-a"));
  assert.ok(projectMatchesAgent(project({ destinations: dests }), "agent-a", true), "destination-based: destinations only");
});

test("agent-specific project copy: only the agent's destinations, rewritten; roles dropped", () => {
  const p = project({
    sourceRepos: ["*"],
    sourceNamespaces: ["team-*"],
    destinations: [{ name: "agent-a", namespace: "one" }, { name: "agent-b", namespace: "two" }, { server: "https://rp?agentName=agent-*", namespace: "three" }],
    roles: [{ name: "ci" }],
  });
  const copy = agentProjectCopy(p, "agent-a");
  assert.deepEqual(copy.spec["destinations"], [
    { name: "in-cluster", server: "https://kubernetes.default.svc", namespace: "one" },
    { name: "in-cluster", server: "https://kubernetes.default.svc", namespace: "three" },
  ]);
  assert.equal(copy.spec["roles"], undefined);
  assert.equal(copy.spec["sourceNamespaces"], undefined);
  assert.deepEqual(copy.spec["sourceRepos"], ["*"]);
  assert.deepEqual(agentProjectCopy(p, "agent-a", true).spec["sourceNamespaces"], ["team-*"], "kept under destination-based mapping");
  assert.equal(copy.metadata.uid, "u1");
});
