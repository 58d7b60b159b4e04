// mtls auth: subject (Go pkix.Name.String() form) and URI SAN identity sources.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { MtlsIdentity } from "../../src/auth/mtls-identity.ts";
import { parseAuthSetting, type AuthInput, type PeerCertificate } from "../../src/auth/method.ts";
import { peerCertificateFromDer } from "../../src/auth/peer-certificate.ts";
import { configureLogging } from "../../src/observability/log.ts";

configureLogging({ write: () => {} });

// Self-signed, made with: openssl req -x509 -subj "/C=US/ST=CA/L=SF/O=Example/OU=edge/OU=dev/CN=agent-2/
// emailAddress=a@b.c/serialNumber=42" -addext "subjectAltName=URI:spiffe://cluster.local/ns/argocd/sa/agent-2,
// DNS:agent-2.example.com,URI:SPIFFE://Other/x". Expected strings were produced by Go's crypto/x509.
const CERT_PEM = `
-----BEGIN CERTIFICATE-----
MIIEWjCCA0KgAwIBAgIUdjvYCkON+f9+HiTwEBQWoXKpnmUwDQYJKoZIhvcNAQEL
BQAwgYsxCzAJBgNVBAYTAlVTMQswCQYDVQQIDAJDQTELMAkGA1UEBwwCU0YxEDAO
BgNVBAoMB0V4YW1wbGUxDTALBgNVBAsMBGVkZ2UxDDAKBgNVBAsMA2RldjEQMA4G
A1UEAwwHYWdlbnQtMjEUMBIGCSqGSIb3DQEJARYFYUBiLmMxCzAJBgNVBAUTAjQy
MB4XDTI2MTEyOTA3NDE1MloXDTI2MTEzMDA3NDE1MlowgYsxCzAJBgNVBAYTAlVT
MQswCQYDVQQIDAJDQTELMAkGA1UEBwwCU0YxEDAOBgNVBAoMB0V4YW1wbGUxDTAL
BgNVBAsMBGVkZ2UxDDAKBgNVBAsMA2RldjEQMA4GA1UEAwwHYWdlbnQtMjEUMBIG
CSqGSIb3DQEJARYFYUBiLmMxCzAJBgNVBAUTAjQyMIIBIjANBgkqhkiG9w0BAQEF
AAOCAQ8AMIIBCgKCAQEAiVL+n3vt8er5/PvzesQoZ3ldB4KWgnvNPFnyz21aUIJR
LR28WnlScT6Z8APPSqo05ZzivGX9c6GEO07w/tT1bkPzCqyvWuLVjqFRw6n/tBeU
TnDUycFuBcFeCp3GgaQPuSCiPI+n8/lGZp2jjrA5G7Mf2+NtNUhmq1yuOFn4FYM/
PQwjBwh+Kged1mh+RSFhKVFaSx+O6bttspdX5mMuOqxZjMLuwyi3skZjx7j6MwK3
LhpVBp5x4vj8U6DzX7xxdFzzRO9qJ3xzslJ63noVsrXMhnX3M+VF2Sp7rwU/SBo1
CGkNv3d5ccyYVaJrtduIN1JtUjJczkzfF+mo5imQNwIDAQABo4GzMIGwMB0GA1Ud
DgQWBBR5TBOq3ygOAFtDw1WQiNlH+IGiiDAfBgNVHSMEGDAWgBR5TBOq3ygOAFtD
w1WQiNlH+IGiiDAPBgNVHRMBAf8EBTADAQH/MF0GA1UdEQRWMFSGK3NwaWZmZTov
L2NsdXN0ZXIubG9jYWwvbnMvYXJnb2NkL3NhL2FnZW50LTKCE2FnZW50LTIuZXhh
bXBsZS5jb22GEFNQSUZGRTovL090aGVyL3gwDQYJKoZIhvcNAQELBQADggEBADRt
k+kb3/HcHHqetAfTeEIEuBeAfB9IUMNMBcxs7FQseQ7bVXDwkjl9gKZ10Dtueim3
FOjxs3FkwtQaHWf7KExWmDZlxKStcSSvRm4glhI+zVkjZxHGwHSkOSiyjXme4E63
MwjHRAAc/M6U1TcOqw+jDCT/nqikCxJMQU24MI9AFZwFh1RVejHuFkzmCDSPkAla
TcUlkUC+niu8ckWid88Pu2EsVeDh2QQabwiH4oueBG1/TzbTxVonTcgf8ILD0NKp
DwB2QXNlpZo25WHUpMp+2X70IQdeqnirsk15nx1vvracXmBVKK8oAItdnWzCL4c0
/YZhQcX1PcU/2nFLBGc=
-----END CERTIFICATE-----
`;

function withCert(peerCertificate?: PeerCertificate): AuthInput {
  return { metadata: new Map(), credentials: {}, peerCertificate };
}

const cert = (subject: string, uris: string[] = []): PeerCertificate => ({ subject, uris, dnsNames: [] });

describe("peer certificate in Go form", () => {
  it("renders the subject exactly as Go's pkix.Name.String() and keeps SAN order", () => {
    const p = peerCertificateFromDer(new X509Certificate(CERT_PEM).raw);
    assert.equal(
      p.subject,
      "SERIALNUMBER=42,CN=agent-2,OU=edge+OU=dev,O=Example,L=SF,ST=CA,C=US,1.2.840.113549.1.9.1=#0c056140622e63",
    );
    assert.deepEqual(p.uris, ["spiffe://cluster.local/ns/argocd/sa/agent-2", "spiffe://Other/x"]);
    assert.deepEqual(p.dnsNames, ["agent-2.example.com"]);
    assert.equal(p.fingerprint, new X509Certificate(CERT_PEM).fingerprint256.replaceAll(":", ""));
  });
});

describe("mtls auth: subject", () => {
  it("extracts group 1 from the subject (install default CN=([^,]+), deprecated form)", async () => {
    const m = parseAuthSetting("mtls:CN=([^,]+)");
    assert.deepEqual(await m.authenticate(withCert(cert("CN=agent-1,O=org"))), { ok: true, agentId: "agent-1" });
  });

  it("works on a real certificate with mtls:subject:", async () => {
    const m = parseAuthSetting("mtls:subject:CN=([^,]+)");
    const p = peerCertificateFromDer(new X509Certificate(CERT_PEM).raw);
    assert.deepEqual(await m.authenticate(withCert(p)), { ok: true, agentId: "agent-2" });
  });

  it("reports a subject that does not match", async () => {
    const m = new MtlsIdentity({ source: "subject", pattern: "CN=([^,]+)" });
    assert.deepEqual(m.authenticate(withCert(cert("O=org"))), {
      ok: false,
      reason: "certificate subject 'O=org' does not match the agent ID regex pattern",
    });
  });

  it("rejects an ID that is not a DNS label", () => {
    const m = new MtlsIdentity({ source: "subject", pattern: "CN=([^,]+)" });
    const r = m.authenticate(withCert(cert("CN=Agent_1")));
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /^invalid agent ID 'Agent_1' in client certificate/);
  });

  it("fails clearly without a client certificate", () => {
    const m = new MtlsIdentity({ source: "subject", pattern: "CN=([^,]+)" });
    const r = m.authenticate(withCert(undefined));
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /no verified client certificate/);
  });

  it("refuses a blocklisted certificate", () => {
    const m = new MtlsIdentity({ source: "subject", pattern: "CN=([^,]+)", blocklist: new Set(["ABCD"]) });
    const r = m.authenticate(withCert({ ...cert("CN=agent-1"), fingerprint: "ABCD" }));
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /blocklisted/);
  });
});

describe("mtls auth: uri", () => {
  const m = parseAuthSetting("mtls:uri:^spiffe://[^/]+/ns/[^/]+/sa/([^/]+)$");

  it("uses the first URI SAN that matches", async () => {
    const c = cert("CN=ignored", ["https://example.com/x", "spiffe://cluster.local/ns/argocd/sa/agent-3", "spiffe://c/ns/a/sa/other"]);
    assert.deepEqual(await m.authenticate(withCert(c)), { ok: true, agentId: "agent-3" });
  });

  it("fails without URI SANs or without a matching one", async () => {
    assert.deepEqual(await m.authenticate(withCert(cert("CN=agent-1"))), { ok: false, reason: "no URI SANs found in client certificate" });
    assert.deepEqual(await m.authenticate(withCert(cert("CN=agent-1", ["https://x/y"]))), {
      ok: false,
      reason: "no URI SAN matched the agent ID regex pattern",
    });
  });

  it("works on a real certificate", async () => {
    const p = peerCertificateFromDer(new X509Certificate(CERT_PEM).raw);
    assert.deepEqual(await m.authenticate(withCert(p)), { ok: true, agentId: "agent-2" });
  });
});
