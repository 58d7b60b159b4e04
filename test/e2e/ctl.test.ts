/**
 * `argocd-agent ctl` against a real kube-apiserver, run as a user runs it (the CLI from
 * source, --kubeconfig): pki init, pki issue resource-proxy, agent create, and the cluster
 * Secret in the format Argo CD and upstream's principal read (operations.md §1.4).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, before, test } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { createKubeClient, type KubeClient } from "../support/kube-client.ts";
import { startKubeEnv, type KubeEnv } from "../support/kube-env.ts";
import { runSync } from "../support/processes.ts";

let env: KubeEnv;
let kube: KubeClient;
let kubeconfig: string;

const ctl = (...args: string[]) => runSync(["ctl", "--kubeconfig", kubeconfig, "--principal-namespace", "argocd", ...args]);
const secret = (name: string): Promise<V1Secret> => kube.core.readNamespacedSecret({ name, namespace: "argocd" });
const text = (s: V1Secret, key: string) => Buffer.from(s.data?.[key] ?? "", "base64").toString();

before(async () => {
  env = await startKubeEnv({ clusters: ["control-plane"], crds: false });
  kubeconfig = env.cluster("control-plane").kubeconfigPath;
  kube = createKubeClient(env.cluster("control-plane").kubeConfig);
}, { timeout: 120_000 });
after(() => env?.stop());

test("agent create before pki init says what to run", () => {
  const r = ctl("agent", "create", "agent-a");
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /CA not configured.*argocd-agent-ca.*pki init/);
});

test("pki init writes the CA Secret once; --force replaces it", async () => {
  const r = ctl("pki", "init");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Success\. CA data stored in secret argocd\/argocd-agent-ca/);
  const s = await secret("argocd-agent-ca");
  assert.equal(s.type, "kubernetes.io/tls");
  assert.ok(new X509Certificate(text(s, "tls.crt")).ca);
  const again = ctl("pki", "init");
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists; use --force/);
});

test("pki issue resource-proxy: server certificate with the SANs, signed by the CA", async () => {
  assert.equal(ctl("pki", "issue", "resource-proxy").code, 2, "no SAN and no --no-san is refused");
  const r = ctl("pki", "issue", "resource-proxy", "--dns", "argocd-agent-resource-proxy", "--ip", "127.0.0.1");
  assert.equal(r.code, 0, r.stderr);
  const cert = new X509Certificate(text(await secret("argocd-agent-resource-proxy-tls"), "tls.crt"));
  const ca = new X509Certificate(text(await secret("argocd-agent-ca"), "tls.crt"));
  assert.ok(cert.verify(ca.publicKey));
  assert.match(cert.subjectAltName ?? "", /DNS:argocd-agent-resource-proxy/);
  assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
});

test("agent create writes Argo CD's cluster Secret with a client certificate CN=<agent>", async () => {
  const r = ctl("agent", "create", "agent-a", "--resource-proxy-server", "rp.example:9090", "-l", "env=prod");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Agent agent-a created/);
  const s = await secret("cluster-agent-a");
  assert.equal(s.metadata?.labels?.["argocd.argoproj.io/secret-type"], "cluster");
  assert.equal(s.metadata?.labels?.["argocd-agent.argoproj-labs.io/agent-name"], "agent-a");
  assert.equal(s.metadata?.labels?.["env"], "prod");
  assert.equal(s.metadata?.annotations?.["argocd.argoproj.io/skip-reconcile"], "true");
  assert.equal(text(s, "name"), "agent-a");
  assert.equal(text(s, "server"), "https://rp.example:9090?agentName=agent-a");
  const config = JSON.parse(text(s, "config")) as { tlsClientConfig: Record<string, unknown> };
  assert.deepEqual(Object.keys(config.tlsClientConfig), ["insecure", "certData", "keyData", "caData"]);
  const pem = (k: string) => Buffer.from(config.tlsClientConfig[k] as string, "base64").toString();
  const cert = new X509Certificate(pem("certData"));
  assert.match(cert.subject, /CN=agent-a/);
  assert.ok(cert.verify(new X509Certificate(pem("caData")).publicKey));
  assert.ok(cert.checkPrivateKey((await import("node:crypto")).createPrivateKey(pem("keyData"))));
  const again = ctl("agent", "create", "agent-a");
  assert.equal(again.code, 1);
  assert.match(again.stderr, /Agent agent-a exists\./);
});

test("agent create refuses bad names and addresses with exit 2", () => {
  assert.equal(ctl("agent", "create", "Bad_Name").code, 2);
  const r = ctl("agent", "create", "agent-b", "--resource-proxy-server", "no-port");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not host:port/);
  assert.equal(ctl("agent", "create", "agent-b", "-l", "novalue").code, 2);
});
