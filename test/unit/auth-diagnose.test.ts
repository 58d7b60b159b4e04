// The diagnostics helper explains what header auth makes of a given header value.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diagnoseHeaderAuth } from "../../src/auth/diagnose.ts";
import { configureLogging } from "../../src/observability/log.ts";

configureLogging({ write: () => {} });
const ISTIO_AUTH = "header:x-forwarded-client-cert:^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)";
const XFCC = 'By=spiffe://cluster.local/ns/argocd/sa/argocd-agent-principal;Hash=abc;Subject="";URI=spiffe://cluster.local/ns/argocd/sa/agent-1';

describe("diagnoseHeaderAuth", () => {
  it("walks through a successful extraction", () => {
    const d = diagnoseHeaderAuth(ISTIO_AUTH, XFCC);
    assert.equal(d.ok, true);
    assert.equal(d.ok && d.agentId, "agent-1");
    assert.match(d.steps[0], /header 'x-forwarded-client-cert'.*Go RE2 regex/);
    assert.ok(d.steps.some((s) => /XFCC has one element/.test(s)));
    assert.ok(d.steps.some((s) => /capture group 1 = "agent-1"/.test(s)));
    assert.match(d.steps[d.steps.length - 1], /valid DNS-1123 label/);
  });

  it("explains a DNS-label failure", () => {
    const d = diagnoseHeaderAuth("header:l5d-client-id:^(.+)\\.serviceaccount\\.identity", "agent-1.argocd.serviceaccount.identity.linkerd.cluster.local");
    assert.equal(d.ok, false);
    if (d.ok) return;
    assert.equal(d.error, "authentication would fail");
    assert.match(d.detail, /^invalid agent ID 'agent-1\.argocd'/);
    assert.ok(d.steps.some((s) => /capture group 1 = "agent-1\.argocd"/.test(s)));
  });

  it("explains a non-match, pointing at an untrusted earlier XFCC element", () => {
    const d = diagnoseHeaderAuth(ISTIO_AUTH, "URI=spiffe://c/ns/x/sa/victim,By=spiffe://c/ns/argocd/sa/p;Hash=abc");
    assert.equal(d.ok, false);
    if (d.ok) return;
    assert.equal(d.detail, "header value does not match the extraction regex pattern");
    assert.ok(d.steps.some((s) => /XFCC has 2 elements; only the last/.test(s)));
    assert.ok(d.steps.some((s) => /earlier XFCC element matches.*not trusted/.test(s)));
  });

  it("reports an invalid or non-header setting", () => {
    const bad = diagnoseHeaderAuth("header:x:^(", "v");
    assert.equal(bad.ok, false);
    assert.equal(!bad.ok && bad.error, "invalid --auth setting");
    const mtls = diagnoseHeaderAuth("mtls:subject:CN=([^,]+)", "v");
    assert.equal(!mtls.ok && mtls.error, "not a header auth setting");
  });
});
