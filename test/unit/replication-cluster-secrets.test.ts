// Cluster secrets on the principal: which agent a secret belongs to, its
// cluster name, and which secret counts when there are several (pure logic).
import { test } from "node:test";
import assert from "node:assert/strict";
import { agentOfSecret, clusterNameOfSecret, clusterSecretsOf, AGENT_NAME_LABEL } from "../../src/replication/principal/cluster-secrets.ts";
import type { Secret } from "../../src/kube/resources.ts";

const secret = (name: string, agent: string | undefined, created: string, data?: Record<string, string>): Secret => ({
  metadata: { name, namespace: "argocd", creationTimestamp: created, labels: agent === undefined ? {} : { [AGENT_NAME_LABEL]: agent } },
  data,
});
const b64 = (s: string) => Buffer.from(s).toString("base64");

test("agent and cluster name come from the label and data.name", () => {
  assert.equal(agentOfSecret(secret("cluster-a", "a", "2026-01-01T00:00:00Z")), "a");
  assert.equal(agentOfSecret(secret("x", "", "2026-01-01T00:00:00Z")), undefined, "an empty label names no agent");
  assert.equal(agentOfSecret(secret("x", undefined, "2026-01-01T00:00:00Z")), undefined);
  assert.equal(clusterNameOfSecret(secret("cluster-a", "a", "t", { name: b64("edge-1") })), "edge-1");
  assert.equal(clusterNameOfSecret(secret("cluster-a", "a", "t", { server: b64("https://x") })), undefined);
  assert.equal(clusterNameOfSecret({ ...secret("cluster-a", "a", "t"), stringData: { name: "plain" } }), "plain");
});

test("the oldest secret of an agent counts; other agents' secrets are ignored", () => {
  const all = [
    secret("newer", "a", "2026-03-01T00:00:00Z"),
    secret("other", "b", "2026-01-01T00:00:00Z"),
    secret("older", "a", "2026-02-01T00:00:00Z"),
  ];
  assert.deepEqual(clusterSecretsOf(all, "a").map((s) => s.metadata.name), ["older", "newer"]);
  assert.deepEqual(clusterSecretsOf(all, "b").map((s) => s.metadata.name), ["other"]);
  assert.deepEqual(clusterSecretsOf(all, "c"), []);
});
