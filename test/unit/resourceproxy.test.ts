/**
 * Resource proxy building blocks: the path grammar (live-resources.md §2.4 examples), the
 * pending-request table and its bounds, the lane router that keeps live traffic away from
 * replication, and the cluster Secret format (operations.md §1.4).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { agentNameError, clusterSecret, resourceProxyAddressError } from "../../src/ctl/cluster-secret.ts";
import { EventTargets } from "../../src/events/event-types.ts";
import { laneRouter } from "../../src/events/lanes.ts";
import type { AgentEvent } from "../../src/events/cloudevent.ts";
import { apiPath, matchResourcePath } from "../../src/resourceproxy/paths.ts";
import { PendingRequests } from "../../src/resourceproxy/pending.ts";

test("paths: upstream's examples parse as the spec's table says", () => {
  const cases: [string, Partial<Record<string, string>> | "version" | undefined][] = [
    ["/api", { group: "", version: "", resource: "" }],
    ["/apis", { group: "", version: "" }],
    ["/api/v1", { version: "v1", resource: "" }],
    ["/apis/apps/v1", { group: "apps", version: "v1" }],
    ["/api/v1/namespaces/ns/events", { version: "v1", namespace: "ns", resource: "events", name: "" }],
    ["/apis/apps/v1/namespaces/ns/deployments/d", { group: "apps", namespace: "ns", resource: "deployments", name: "d" }],
    ["/apis/apps/v1/namespaces/ns/deployments/d/status", { resource: "deployments", name: "d", subresource: "status" }],
    ["/api/v1/namespaces/ns/pods/p/log", { resource: "pods", name: "p", subresource: "log" }],
    ["/api/v1/namespaces/ns/pods/p/exec", { subresource: "exec" }],
    // A namespaces/{ns}/ prefix counts only when more path follows.
    ["/api/v1/namespaces/foo", { namespace: "", resource: "namespaces", name: "foo" }],
    ["/version", "version"],
    ["/version/", undefined],
    ["/openapi/v2", undefined],
    ["/apis/apps", undefined],
    ["/healthz", undefined],
    ["/api/x1", undefined],
  ];
  for (const [path, want] of cases) {
    const got = matchResourcePath(path);
    if (want === undefined) assert.equal(got, undefined, path);
    else if (want === "version") assert.deepEqual(got, { kind: "version" }, path);
    else {
      assert.equal(got?.kind, "resource", path);
      for (const [k, v] of Object.entries(want)) assert.equal((got as unknown as Record<string, string>)[k], v, `${path} ${k}`);
    }
  }
  assert.equal(matchResourcePath("/api/v1")?.kind === "resource" && (matchResourcePath("/api/v1") as { legacy: boolean }).legacy, true);
});

test("apiPath builds the agent's API path and escapes names", () => {
  assert.equal(apiPath({ group: "", version: "v1", namespace: "ns", resource: "configmaps", name: "c" }), "/api/v1/namespaces/ns/configmaps/c");
  assert.equal(apiPath({ group: "apps", version: "v1", resource: "deployments" }), "/apis/apps/v1/deployments");
  assert.equal(apiPath({ group: "", version: "v1", namespace: "ns", resource: "pods", name: "a b", subresource: "log" }), "/api/v1/namespaces/ns/pods/a%20b/log");
});

test("pending requests: bounded per agent, settled only by the agent asked, failed on disconnect", async () => {
  const p = new PendingRequests<string>({ maxPerAgent: 2 });
  const a1 = p.open("a", "u1", 10_000)!;
  const a2 = p.open("a", "u2", 10_000)!;
  assert.equal(p.open("a", "u3", 10_000), undefined, "third open request of the agent is refused");
  assert.ok(p.open("b", "u4", 10_000), "other agents are unaffected");
  assert.equal(p.open("b", "u1", 10_000), undefined, "a UUID is tracked once");
  assert.equal(p.settle("b", "u1", "forged"), false, "another agent cannot answer a's request");
  assert.equal(p.settle("a", "u1", "ok"), true);
  assert.deepEqual(await a1, { ok: true, value: "ok" });
  assert.equal(p.settle("a", "u1", "again"), false, "a duplicate answer is dropped");
  assert.equal(p.failAgent("a"), 1);
  assert.deepEqual(await a2, { ok: false, reason: "disconnected" });
  assert.equal(p.size("a"), 0);
  const t = p.open("c", "u5", 20)!;
  assert.deepEqual(await t, { ok: false, reason: "timeout" });
  p.closeAll();
  assert.equal(p.size(), 0);
  assert.throws(() => new PendingRequests({ maxPerAgent: 0 }), RangeError);
});

test("lanes: live targets never reach the replication handler, and the reverse", async () => {
  const seen: string[] = [];
  const route = laneRouter({
    replication: async (ev) => void seen.push(`replication:${ev.target}`),
    live: { [EventTargets.resource]: async (ev) => void seen.push(`live:${ev.target}`) },
  });
  const ev = (target: string) => ({ target, type: "x" }) as unknown as AgentEvent;
  await route(ev(EventTargets.resource), undefined as never);
  await route(ev(EventTargets.application), undefined as never);
  assert.deepEqual(seen, ["live:resource", "replication:application"]);
});

test("cluster Secret: Argo CD's format with upstream's labels, annotations and config field order", () => {
  const s = clusterSecret({ agent: "prod-1", namespace: "argocd", resourceProxy: "rp:9090/", certPem: "C", keyPem: "K", caPem: "A", labels: { env: "prod" } });
  const d = (k: string) => Buffer.from(s.data![k]!, "base64").toString();
  assert.equal(s.metadata?.name, "cluster-prod-1");
  assert.deepEqual(s.metadata?.labels, { env: "prod", "argocd.argoproj.io/secret-type": "cluster", "argocd-agent.argoproj-labs.io/agent-name": "prod-1" });
  assert.deepEqual(s.metadata?.annotations, { "argocd.argoproj.io/skip-reconcile": "true", "managed-by": "argocd-agent" });
  assert.equal(d("server"), "https://rp:9090?agentName=prod-1");
  assert.equal(d("config"), '{"tlsClientConfig":{"insecure":false,"certData":"Qw==","keyData":"Sw==","caData":"QQ=="}}');
  assert.equal(resourceProxyAddressError("argocd-agent-resource-proxy:9090"), undefined);
  assert.equal(resourceProxyAddressError("10.0.0.1:443"), undefined);
  assert.match(resourceProxyAddressError("host:99999") ?? "", /out of range/);
  assert.match(resourceProxyAddressError("Bad_Host:1") ?? "", /neither/);
  assert.match(agentNameError("Agent") ?? "", /DNS-1123/);
});

test("discovery: /api becomes APIVersions and /apis loses the core group, also for a Go agent's kind-less reply", async () => {
  const { reshapeDiscovery } = await import("../../src/resourceproxy/discovery.ts");
  const groups = [{ name: "", versions: [{ groupVersion: "v1", version: "v1" }] }, { name: "apps", versions: [{ groupVersion: "apps/v1", version: "v1" }] }];
  for (const body of [JSON.stringify({ kind: "APIGroupList", apiVersion: "v1", groups }), JSON.stringify({ groups })]) {
    const api = JSON.parse(reshapeDiscovery(matchResourcePath("/api") as never, body));
    assert.deepEqual(api, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] });
    const apis = JSON.parse(reshapeDiscovery(matchResourcePath("/apis") as never, body));
    assert.equal(apis.kind, "APIGroupList");
    assert.deepEqual(apis.groups.map((g: { name: string }) => g.name), ["apps"]);
  }
  const other = JSON.stringify({ kind: "Status", status: "Failure" });
  assert.equal(reshapeDiscovery(matchResourcePath("/api") as never, other), other);
});
