/**
 * Kubernetes API clients reuse connections: one dispatcher per cluster,
 * user and TLS material, instead of client-node's one per request; the
 * original KubeConfig is untouched, and headers are still applied per request.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";
import { connectionReusingConfig } from "../../src/kube/connections.ts";
import { createKubeClient } from "../support/kube-client.ts";

function config(token = "t1"): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:6443", skipTLSVerify: true }],
    users: [{ name: "u", token }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

async function dispatcherOf(kc: KubeConfig): Promise<{ dispatcher: unknown; auth: string | undefined }> {
  const ctx = new RequestContext("https://127.0.0.1:6443/api", HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return { dispatcher: ctx.getDispatcher(), auth: ctx.getHeaders()["Authorization"] };
}

test("one dispatcher for all requests (client-node alone makes one per request)", async () => {
  const kc = config();
  const plain = [await dispatcherOf(kc), await dispatcherOf(kc)];
  assert.notEqual(plain[0]!.dispatcher, plain[1]!.dispatcher, "precondition: client-node creates a dispatcher per request");
  const reusing = connectionReusingConfig(kc);
  const a = await dispatcherOf(reusing);
  const b = await dispatcherOf(reusing);
  assert.ok(a.dispatcher);
  assert.equal(a.dispatcher, b.dispatcher);
  assert.equal(a.auth, "Bearer t1", "authentication still applied per request");
  assert.notEqual((await dispatcherOf(kc)).dispatcher, a.dispatcher, "the original config is unchanged");
  assert.equal(connectionReusingConfig(reusing), reusing, "idempotent");
  assert.ok(reusing instanceof KubeConfig);
  assert.equal(reusing.getCurrentCluster()?.server, "https://127.0.0.1:6443");
});

test("different TLS material gets its own dispatcher", async () => {
  const kc = config();
  const reusing = connectionReusingConfig(kc);
  const first = (await dispatcherOf(reusing)).dispatcher;
  (kc.clusters[0] as { skipTLSVerify: boolean }).skipTLSVerify = false; // rejectUnauthorized changes
  const second = (await dispatcherOf(reusing)).dispatcher;
  assert.notEqual(first, second);
  assert.equal((await dispatcherOf(reusing)).dispatcher, second);
});

test("createKubeClient reuses connections and leaves the given KubeConfig alone", async () => {
  const kc = config();
  const kube = createKubeClient(kc);
  assert.equal(kube.server, "https://127.0.0.1:6443");
  assert.equal(kube.context, "x");
  assert.notEqual(kube.kubeConfig, kc);
  const a = await dispatcherOf(kube.kubeConfig);
  assert.equal(a.dispatcher, (await dispatcherOf(kube.kubeConfig)).dispatcher);
  assert.notEqual((await dispatcherOf(kc)).dispatcher, (await dispatcherOf(kc)).dispatcher, "the original still makes one per request");
  assert.equal(createKubeClient(kube.kubeConfig).kubeConfig, kube.kubeConfig, "wrapped only once");
});
