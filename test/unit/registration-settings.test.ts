/**
 * Start-up checks of self cluster registration: every bad combination is a
 * StartupError (exit code 2) that names the flag to fix.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { StartupError } from "../../src/cli/component-command.ts";
import { selfRegistrationSettings } from "../../src/registration/registration-settings.ts";

const base = {
  enableSelfClusterRegistration: true,
  selfRegistrationClientCertSecret: "argocd-agent-self-registration-tls",
  enableResourceProxy: true,
  resourceProxyAddress: "argocd-agent-resource-proxy:9090",
};

test("disabled: nothing is checked", () => {
  assert.equal(selfRegistrationSettings({ ...base, enableSelfClusterRegistration: false, selfRegistrationClientCertSecret: "", enableResourceProxy: false }, false), undefined);
});

test("enabled with everything in place: the secret name and the address", () => {
  assert.deepEqual(selfRegistrationSettings(base, true), { clientCertSecret: base.selfRegistrationClientCertSecret, resourceProxyAddress: base.resourceProxyAddress });
});

const bad: [string, Partial<typeof base>, boolean, RegExp][] = [
  ["no client cert secret", { selfRegistrationClientCertSecret: "" }, true, /needs --self-registration-client-cert-secret/],
  ["secret given as ns/name", { selfRegistrationClientCertSecret: "argocd/x" }, true, /--self-registration-client-cert-secret "argocd\/x": give the Secret's name only/],
  ["secret name not DNS-1123", { selfRegistrationClientCertSecret: "Bad_Name" }, true, /--self-registration-client-cert-secret "Bad_Name" is not a valid Secret name/],
  ["resource proxy off", { enableResourceProxy: false }, true, /--enable-self-cluster-registration needs the resource proxy.*--enable-resource-proxy=false/],
  ["address without port", { resourceProxyAddress: "proxy" }, true, /--resource-proxy-address: "proxy" is not host:port/],
  ["address with a bad host", { resourceProxyAddress: "Proxy_1:9090" }, true, /--resource-proxy-address: host "Proxy_1"/],
  ["no Kubernetes", {}, false, /needs the Kubernetes API: set --kubeconfig/],
];
for (const [name, change, kube, re] of bad) {
  test(`refused: ${name}`, () => {
    assert.throws(() => selfRegistrationSettings({ ...base, ...change }, kube), (err: unknown) => err instanceof StartupError && err.exitCode === 2 && re.test(err.message));
  });
}
