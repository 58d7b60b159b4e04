/**
 * `argocd-agent principal` with bad self cluster registration settings stops
 * at once with exit code 2 and a message naming the flag, whether the
 * settings come from flags or from environment variables.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runSync } from "../support/processes.ts";

const principal = ["principal", "--namespace", "argocd", "--healthz-port", "0", "--metrics-port", "0"];

const cases: [string, string[], Record<string, string>, RegExp][] = [
  ["enabled without a client cert secret (flag)", ["--enable-self-cluster-registration"], {}, /--enable-self-cluster-registration needs --self-registration-client-cert-secret/],
  ["enabled without a client cert secret (env)", [], { ARGOCD_PRINCIPAL_ENABLE_SELF_CLUSTER_REGISTRATION: "true" }, /needs --self-registration-client-cert-secret \(env ARGOCD_PRINCIPAL_SELF_REGISTRATION_CLIENT_CERT_SECRET\)/],
  ["enabled with the resource proxy off", ["--enable-self-cluster-registration", "--self-registration-client-cert-secret", "shared-tls", "--enable-resource-proxy=false"], {}, /needs the resource proxy.*--enable-resource-proxy=false/],
  ["enabled with the resource proxy off (env)", [], { ARGOCD_PRINCIPAL_ENABLE_SELF_CLUSTER_REGISTRATION: "true", ARGOCD_PRINCIPAL_SELF_REGISTRATION_CLIENT_CERT_SECRET: "shared-tls", ARGOCD_PRINCIPAL_ENABLE_RESOURCE_PROXY: "false" }, /needs the resource proxy/],
  ["a namespaced secret reference", ["--enable-self-cluster-registration", "--self-registration-client-cert-secret", "other/shared-tls"], {}, /--self-registration-client-cert-secret "other\/shared-tls": give the Secret's name only/],
  ["a bad resource proxy address", ["--enable-self-cluster-registration", "--self-registration-client-cert-secret", "shared-tls", "--resource-proxy-address", "https://proxy:9090"], {}, /--resource-proxy-address: .*is not host:port/],
  ["no Kubernetes to write secrets to", ["--enable-self-cluster-registration", "--self-registration-client-cert-secret", "shared-tls"], {}, /needs the Kubernetes API/],
];
for (const [name, args, env, re] of cases) {
  test(`self registration: ${name} → exit 2`, () => {
    const res = runSync([...principal, ...args], env);
    assert.equal(res.code, 2, `exit code; stderr: ${res.stderr}`);
    assert.match(res.stderr, re);
  });
}

test("self registration settings are no longer refused as unsupported: a valid value passes the settings parser", () => {
  // Valid registration settings get past parsing and the registration checks; the principal then stops at the
  // next missing piece (no auth method configured), not at "not supported yet".
  const res = runSync([...principal, "--enable-self-cluster-registration", "--self-registration-client-cert-secret", "shared-tls", "--kubeconfig", "/nonexistent/kubeconfig"]);
  assert.equal(res.code, 2, res.stderr);
  assert.match(res.stderr, /invalid --auth ""/);
  assert.doesNotMatch(res.stderr, /not supported yet|self-registration|self-cluster-registration/);
});
