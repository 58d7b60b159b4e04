// Header auth as a mesh sidecar drives it: Istio XFCC, Linkerd l5d-client-id, custom headers.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { HeaderIdentity } from "../../src/auth/header-identity.ts";
import { parseAuthSetting, type AuthInput, type AuthResult } from "../../src/auth/method.ts";
import { splitXfccElements } from "../../src/auth/xfcc.ts";
import { configureLogging } from "../../src/observability/log.ts";

// The exact settings from the service-mesh integration guide.
const ISTIO_AUTH = "header:x-forwarded-client-cert:^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)";
const LINKERD_AUTH = "header:l5d-client-id:^([^.]+)\\..*";
// The Linkerd regex from upstream's authentication.md.
const LINKERD_AUTH_UPSTREAM_DOC = "header:l5d-client-id:^(.+)\\.serviceaccount\\.identity";

const ISTIO_XFCC =
  'By=spiffe://cluster.local/ns/argocd/sa/argocd-agent-principal;Hash=abc;Subject="";URI=spiffe://cluster.local/ns/argocd/sa/agent-1';
const LINKERD_ID = "agent-1.argocd.serviceaccount.identity.linkerd.cluster.local";

function input(headers: Record<string, string | string[]>): AuthInput {
  const metadata = new Map<string, string[]>();
  for (const [k, v] of Object.entries(headers)) metadata.set(k.toLowerCase(), Array.isArray(v) ? v : [v]);
  return { metadata, credentials: {}, remoteAddress: "127.0.0.1:50000" };
}

async function auth(setting: string, headers: Record<string, string | string[]>): Promise<AuthResult> {
  return parseAuthSetting(setting).authenticate(input(headers));
}

let logLines: string[] = [];
beforeEach(() => {
  logLines = [];
  configureLogging({ defaultLevel: "info", levels: {}, write: (l) => logLines.push(l) });
});
afterEach(() => configureLogging({ defaultLevel: "info", levels: {}, write: (l) => process.stderr.write(l + "\n") }));

describe("header auth: Istio x-forwarded-client-cert", () => {
  it("extracts the ServiceAccount name from the SPIFFE URI with the guide's regex verbatim", async () => {
    assert.deepEqual(await auth(ISTIO_AUTH, { "x-forwarded-client-cert": ISTIO_XFCC }), { ok: true, agentId: "agent-1" });
  });

  it("uses the element the sidecar appended, not a forged one the caller sent first", async () => {
    const forged = 'By=spiffe://cluster.local/ns/argocd/sa/argocd-agent-principal;URI=spiffe://cluster.local/ns/argocd/sa/victim';
    assert.deepEqual(await auth(ISTIO_AUTH, { "x-forwarded-client-cert": `${forged},${ISTIO_XFCC}` }), { ok: true, agentId: "agent-1" });
  });

  it("the guide's regex alone (greedy ^.*) already picks the last URI of the whole value", () => {
    const m = new HeaderIdentity({ headerName: "x-forwarded-client-cert", pattern: "^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)" });
    const whole = `URI=spiffe://cluster.local/ns/x/sa/victim,${ISTIO_XFCC}`;
    assert.equal(m.pattern.regexp.exec(whole)?.[1], "agent-1");
  });

  it("also protects a non-greedy regex: only the last element is matched", async () => {
    const setting = "header:x-forwarded-client-cert:URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)";
    const value = `URI=spiffe://cluster.local/ns/x/sa/victim,${ISTIO_XFCC}`;
    assert.deepEqual(await auth(setting, { "x-forwarded-client-cert": value }), { ok: true, agentId: "agent-1" });
  });

  it("a repeated XFCC field joined by Node (', ') behaves like an element list", async () => {
    const value = `URI=spiffe://cluster.local/ns/x/sa/victim, ${ISTIO_XFCC}`;
    assert.deepEqual(await auth(ISTIO_AUTH, { "x-forwarded-client-cert": value }), { ok: true, agentId: "agent-1" });
  });

  it("fails when only a caller-supplied element carries a URI", async () => {
    const value = "URI=spiffe://cluster.local/ns/x/sa/victim,By=spiffe://cluster.local/ns/argocd/sa/p;Hash=abc";
    const r = await auth(ISTIO_AUTH, { "x-forwarded-client-cert": value });
    assert.deepEqual(r, { ok: false, reason: "header value does not match the extraction regex pattern" });
  });

  it("splits XFCC elements without breaking quoted values", () => {
    assert.deepEqual(splitXfccElements('Subject="CN=a,O=b";URI=x,By=y;Subject="q\\",z"'), [
      'Subject="CN=a,O=b";URI=x',
      'By=y;Subject="q\\",z"',
    ]);
  });
});

describe("header auth: Linkerd l5d-client-id", () => {
  it("extracts the ServiceAccount with the guide's regex", async () => {
    assert.deepEqual(await auth(LINKERD_AUTH, { "l5d-client-id": LINKERD_ID }), { ok: true, agentId: "agent-1" });
  });

  it("rejects upstream authentication.md's regex result 'agent-1.argocd' (not a DNS label)", async () => {
    const r = await auth(LINKERD_AUTH_UPSTREAM_DOC, { "l5d-client-id": LINKERD_ID });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /^invalid agent ID 'agent-1\.argocd' extracted from header: /);
  });

  it("rejects a repeated header that Node joined into one value", async () => {
    const r = await auth(LINKERD_AUTH, { "l5d-client-id": `${LINKERD_ID}, evil.argocd.serviceaccount.identity.linkerd.cluster.local` });
    assert.deepEqual(r, {
      ok: false,
      reason: "header 'l5d-client-id' appears more than once (joined into one value, 2 of its comma-separated parts yield an identity)",
    });
  });
});

describe("header auth: generic behaviour", () => {
  it("supports a custom header", async () => {
    assert.deepEqual(await auth("header:x-agent-id:^(.+)$", { "x-agent-id": "edge-7" }), { ok: true, agentId: "edge-7" });
  });

  it("matches header names case-insensitively (configured upper-case, metadata lower-case)", async () => {
    assert.deepEqual(await auth("header:X-Agent-ID:^(.+)$", { "x-agent-id": "edge-7" }), { ok: true, agentId: "edge-7" });
  });

  it("keeps a comma inside a single identity (only several matching parts count as a repeat)", async () => {
    assert.deepEqual(await auth("header:x-client-subject:CN=([^,]+)", { "x-client-subject": "CN=edge-7, O=Example" }), {
      ok: true,
      agentId: "edge-7",
    });
  });

  it("rejects several values (metadata built in-process; HTTP/2 delivers a repeat joined into one)", async () => {
    const r = await auth(LINKERD_AUTH, { "l5d-client-id": [LINKERD_ID, LINKERD_ID] });
    assert.deepEqual(r, { ok: false, reason: "header 'l5d-client-id' appears more than once" });
  });

  it("fails when the header is missing", async () => {
    assert.deepEqual(await auth(LINKERD_AUTH, { "x-other": "x" }), { ok: false, reason: "header 'l5d-client-id' not found in request" });
  });

  it("fails when the regex does not match", async () => {
    assert.deepEqual(await auth(ISTIO_AUTH, { "x-forwarded-client-cert": "By=spiffe://x;Hash=abc" }), {
      ok: false,
      reason: "header value does not match the extraction regex pattern",
    });
  });

  it("fails for an agent ID that is not a DNS-1123 label", async () => {
    for (const bad of ["Agent-1", "-agent", "agent_1", "a".repeat(64)]) {
      const r = await auth("header:x-agent-id:^(.+)$", { "x-agent-id": bad });
      assert.equal(r.ok, false, bad);
      assert.match((r as { reason: string }).reason, new RegExp(`^invalid agent ID '${bad}' extracted from header`));
    }
  });

  it("fails for an empty capture", async () => {
    assert.deepEqual(await auth("header:x-agent-id:^id=([a-z]*)", { "x-agent-id": "id=" }), {
      ok: false,
      reason: "extracted agent ID is empty from header value",
    });
  });

  it("refuses oversized values before running the regex", async () => {
    const r = await auth("header:x-agent-id:^(.+)$", { "x-agent-id": "a".repeat(20000) });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /too long/);
  });
});

describe("header auth: logging", () => {
  it("logs 'unable to extract identity' with the header name but not the value at info", async () => {
    await auth(ISTIO_AUTH, { "x-forwarded-client-cert": "By=spiffe://secret-value" });
    const line = logLines.find((l) => l.includes("unable to extract identity"));
    assert.ok(line, logLines.join("\n"));
    assert.match(line, /header=x-forwarded-client-cert/);
    assert.doesNotMatch(line, /secret-value/);
  });

  it("adds the header value when debug is enabled", async () => {
    configureLogging({ levels: { auth: "debug" } });
    await auth(ISTIO_AUTH, { "x-forwarded-client-cert": "By=spiffe://secret-value" });
    const line = logLines.find((l) => l.includes("unable to extract identity"));
    assert.match(line ?? "", /secret-value/);
  });
});
