/**
 * `argocd-agent ctl pki …` and `ctl jwt …` against two real kube-apiservers (a
 * control plane and an agent's cluster, one kubeconfig with two contexts), run
 * as a user runs them: the Secrets each command writes (names, types, keys,
 * certificate CN/EKU/SAN/validity), the inspect formats, the refusals, the
 * prompts answered through piped stdin, an upstream-format RSA CA, and the
 * acceptance test: our principal and agent start from nothing but the Secrets
 * these commands wrote and connect with mTLS (operations.md §1, §6.3).
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { createKubeClient, type KubeClient } from "../support/kube-client.ts";
import { ensureNamespace, isNotFound } from "../../src/kube/crud.ts";
import { startKubeEnv, type KubeEnv } from "../support/kube-env.ts";
import { command, freePort, start, type RunResult, type Running } from "../support/processes.ts";
import { eventually, metric } from "../support/metrics-scrape.ts";

const CP = "control-plane";
const AGENT = "agent-1";
const DAY = 86_400_000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const RFC1123Z = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/;

let env: KubeEnv;
let tmp: string;
let kubeconfig: string;
let cp: KubeClient;
let wl: KubeClient;
let cpNs: string;
let agentNs: string;
const running: Running[] = [];

/** The two clusters' kubeconfigs merged into one file, one context per cluster (named after it). */
function mergedKubeconfig(): string {
  const out = { apiVersion: "v1", kind: "Config", clusters: [] as unknown[], users: [] as unknown[], contexts: [] as unknown[], "current-context": CP };
  for (const c of env.clusters) {
    const kc = parseYaml(readFileSync(c.kubeconfigPath, "utf8")) as Record<string, { name: string; context?: { cluster: string; user: string } }[] | string>;
    const ctx = (kc["contexts"] as { name: string; context: { cluster: string; user: string } }[]).find((x) => x.name === kc["current-context"])!;
    const cluster = (kc["clusters"] as { name: string }[]).find((x) => x.name === ctx.context.cluster)!;
    const user = (kc["users"] as { name: string }[]).find((x) => x.name === ctx.context.user)!;
    out.clusters.push({ ...cluster, name: c.name });
    out.users.push({ ...user, name: `${c.name}-user` });
    out.contexts.push({ name: c.name, context: { cluster: c.name, user: `${c.name}-user` } });
  }
  const path = join(tmp, "kubeconfig");
  writeFileSync(path, toYaml(out), { mode: 0o600 });
  return path;
}

const base = () => ["ctl", "--kubeconfig", kubeconfig, "--principal-context", CP, "--principal-namespace", cpNs];

/**
 * The CLI from source, with `input` on stdin (the prompts' non-interactive use). Asynchronous on
 * purpose: a test blocked in spawnSync for a minute misses the HTTP/2 PING acks of its own kube
 * client, which then drops the connection as unresponsive.
 */
function run(args: string[], input = ""): Promise<RunResult> {
  const [bin, pre] = command("source");
  return new Promise((resolve, reject) => {
    const p = spawn(bin, [...pre, ...base(), ...args], { env: { PATH: process.env.PATH ?? "", HOME: tmp } });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill("SIGKILL"), 90_000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(input);
  });
}
const ctl = (...args: string[]) => run(args);
const toAgent = (...args: string[]) => run(["--agent-context", AGENT, "--agent-namespace", agentNs, ...args]);
const ctlWithInput = (input: string, ...args: string[]) => run(args, input);

const ok = (r: RunResult): string => {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
};
const fails = (r: RunResult, code: number, re: RegExp) => {
  assert.equal(r.code, code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stderr, re);
};

const getSecret = (k: KubeClient, namespace: string, name: string): Promise<V1Secret | undefined> =>
  k.core.readNamespacedSecret({ name, namespace }).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
async function secret(k: KubeClient, namespace: string, name: string): Promise<V1Secret> {
  const s = await getSecret(k, namespace, name);
  assert.ok(s, `Secret ${namespace}/${name} exists`);
  return s;
}
const field = (s: V1Secret, key: string) => Buffer.from(s.data?.[key] ?? "", "base64").toString();
const certOf = (s: V1Secret, key = "tls.crt") => new X509Certificate(field(s, key));
const days = (c: X509Certificate) => (Date.parse(c.validTo) - Date.now()) / DAY;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "ctl-pki-e2e-"));
  env = await startKubeEnv({ clusters: [CP, AGENT] });
  kubeconfig = mergedKubeconfig();
  cp = createKubeClient(env.cluster(CP).kubeConfig);
  wl = createKubeClient(env.cluster(AGENT).kubeConfig);
  cpNs = env.cluster(CP).ns("argocd");
  agentNs = env.cluster(AGENT).ns("argocd");
}, { timeout: 120_000 });

after(async () => {
  await Promise.all(running.map((p) => p.stop("SIGKILL")));
  await env?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test("bad flag values exit 2 naming the flag, before anything is written", async () => {
  const cases: [string[], RegExp][] = [
    [["pki", "init", "--key-algorithm", "dsa"], /--key-algorithm "dsa".*rsa, ecdsa-p256, ecdsa-p384, ecdsa-p521, ed25519/],
    [["pki", "init", "--key-size", "1024"], /--key-size 1024.*2048, 3072, 4096/],
    [["pki", "init", "--days", "0"], /--days/],
    [["pki", "issue", "principal", "--ip", "not-an-ip"], /--ip "not-an-ip" is not an IP address/],
    [["pki", "issue", "resource-proxy"], /--ip or --dns.*--no-san/],
    [["pki", "inspect", "-o", "xml"], /--output "xml"/],
    [["jwt", "inspect-key", "-o", "toml"], /--output "toml"/],
    [["pki", "dump"], /One of --all, --key or --cert must be specified\./],
    [["pki", "issue", "agent", AGENT], /--agent-context/],
    [["pki", "issue", "agent", AGENT, "--agent-context", CP], /same context.*--same-context/],
    [["pki", "issue", "agent", "Bad_Name", "--agent-context", AGENT], /Bad_Name/],
    [["pki", "propagate", "--agent-context", CP], /same context/],
  ];
  // One at a time: a dozen Node start-ups at once on a busy 2-core machine outlast the timeout.
  for (const [args, re] of cases) fails(await ctl(...args), 2, re);
  assert.equal(await getSecret(cp, cpNs, "argocd-agent-ca"), undefined);
});

test("pki init: an RSA-4096 CA as upstream's profile, once; --force replaces it", async () => {
  const out = ok(await ctl("pki", "init"));
  assert.equal(out, `Generating CA and storing it in secret\nSuccess. CA data stored in secret ${cpNs}/argocd-agent-ca\n`);
  const s = await secret(cp, cpNs, "argocd-agent-ca");
  assert.equal(s.type, "kubernetes.io/tls");
  assert.deepEqual(Object.keys(s.data ?? {}).sort(), ["tls.crt", "tls.key"]);
  const ca = certOf(s);
  assert.ok(ca.ca);
  assert.equal(ca.subject, "O=DO NOT USE IN PRODUCTION\nCN=argocd-agent-ca");
  assert.deepEqual(ca.keyUsage, [CLIENT_AUTH, SERVER_AUTH], "extended key usage clientAuth + serverAuth");
  assert.equal(ca.publicKey.asymmetricKeyDetails?.modulusLength, 4096);
  assert.ok(Math.abs(days(ca) - 3650) < 0.01, `valid ${days(ca)} days`);
  assert.notEqual(ca.serialNumber, "01", "random serial");
  assert.match(field(s, "tls.key"), /^-----BEGIN PRIVATE KEY-----\n/);
  assert.ok(ca.checkPrivateKey(createPrivateKey(field(s, "tls.key"))));
  fails(await ctl("pki", "init"), 1, /exists; use --force/);
  ok(await ctl("pki", "init", "--force", "--key-algorithm", "ecdsa-p256", "--days", "400"));
  const replaced = certOf(await secret(cp, cpNs, "argocd-agent-ca"));
  assert.equal(replaced.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  assert.ok(Math.abs(days(replaced) - 400) < 0.01);
});

test("pki issue principal: serverAuth, 127.0.0.1/localhost by default, refuses to replace without --upsert, not past the CA", async () => {
  assert.equal(ok(await ctl("pki", "issue", "principal")), `Secret ${cpNs}/argocd-agent-principal-tls created\n`);
  const s = await secret(cp, cpNs, "argocd-agent-principal-tls");
  assert.equal(s.type, "kubernetes.io/tls");
  assert.deepEqual(Object.keys(s.data ?? {}).sort(), ["tls.crt", "tls.key"]);
  const cert = certOf(s);
  const ca = certOf(await secret(cp, cpNs, "argocd-agent-ca"));
  assert.equal(cert.subject, "O=DO NOT USE IN PRODUCTION\nCN=argocd-agent-principal");
  assert.deepEqual(cert.keyUsage, [SERVER_AUTH]);
  assert.equal(cert.subjectAltName, "DNS:localhost, IP Address:127.0.0.1");
  assert.equal(cert.ca, false);
  assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey));
  assert.ok(cert.checkPrivateKey(createPrivateKey(field(s, "tls.key"))));
  assert.ok(Math.abs(days(cert) - 180) < 0.01);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 4096, "RSA-4096 by default");

  fails(await ctl("pki", "issue", "principal"), 1, /Certificate exists, please use --upsert to reissue\./);
  assert.equal(certOf(await secret(cp, cpNs, "argocd-agent-principal-tls")).fingerprint256, cert.fingerprint256, "unchanged");
  fails(await ctl("pki", "issue", "principal", "-u", "--days", "401"), 2, /--days 401.*outlive the CA.*maximum is about 399 days/);

  const r = await ctl("pki", "new-cert", "principal", "-u", "--ip", "10.1.2.3,127.0.0.1", "--dns", "principal.example", "--dns", "localhost", "--key-algorithm", "ecdsa-p384", "--days", "30");
  assert.equal(ok(r), `Secret ${cpNs}/argocd-agent-principal-tls updated.\n`);
  const again = certOf(await secret(cp, cpNs, "argocd-agent-principal-tls"));
  assert.equal(again.subjectAltName, "DNS:principal.example, DNS:localhost, IP Address:10.1.2.3, IP Address:127.0.0.1");
  assert.equal(again.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1");
  assert.ok(Math.abs(days(again) - 30) < 0.01);
});

test("pki issue resource-proxy: serverAuth with the SANs given, or none with --no-san", async () => {
  ok(await ctl("pki", "issue", "resource-proxy", "--no-san", "--key-algorithm", "ed25519"));
  const bare = certOf(await secret(cp, cpNs, "argocd-agent-resource-proxy-tls"));
  assert.equal(bare.subject, "O=DO NOT USE IN PRODUCTION\nCN=argocd-agent-resource-proxy");
  assert.equal(bare.subjectAltName, undefined);
  assert.equal(bare.publicKey.asymmetricKeyType, "ed25519");
  assert.deepEqual(bare.keyUsage, [SERVER_AUTH]);
  fails(await ctl("pki", "issue", "resource-proxy", "--dns", "rp.example"), 1, /--upsert/);
  assert.match(ok(await ctl("pki", "issue", "resource-proxy", "-u", "--dns", "rp.example", "--key-algorithm", "ecdsa-p521")), /argocd-agent-resource-proxy-tls updated\./);
  const cert = certOf(await secret(cp, cpNs, "argocd-agent-resource-proxy-tls"));
  assert.equal(cert.subjectAltName, "DNS:rp.example");
  assert.ok(cert.verify(certOf(await secret(cp, cpNs, "argocd-agent-ca")).publicKey));
});

test("pki issue agent: client certificate and CA copy in the agent's cluster", async () => {
  const out = ok(await toAgent("pki", "issue", "agent", AGENT, "--key-algorithm", "ecdsa-p256"));
  assert.equal(out, `Secret ${agentNs}/argocd-agent-client-tls created\nAgent CA secret ${agentNs}/argocd-agent-ca created\n`);
  const tls = await secret(wl, agentNs, "argocd-agent-client-tls");
  assert.equal(tls.type, "kubernetes.io/tls");
  assert.deepEqual(Object.keys(tls.data ?? {}).sort(), ["tls.crt", "tls.key"]);
  const cert = certOf(tls);
  assert.equal(cert.subject, `O=DO NOT USE IN PRODUCTION\nCN=${AGENT}`);
  assert.deepEqual(cert.keyUsage, [CLIENT_AUTH]);
  assert.equal(cert.subjectAltName, undefined);
  const caTls = field(await secret(cp, cpNs, "argocd-agent-ca"), "tls.crt");
  assert.ok(cert.verify(new X509Certificate(caTls).publicKey));
  const agentCa = await secret(wl, agentNs, "argocd-agent-ca");
  assert.equal(agentCa.type, "Opaque");
  assert.deepEqual(Object.keys(agentCa.data ?? {}), ["ca.crt"]);
  assert.equal(field(agentCa, "ca.crt"), caTls, "ca.crt is the CA's tls.crt");
  assert.equal(await getSecret(cp, cpNs, "argocd-agent-client-tls"), undefined, "nothing written on the control plane");

  fails(await toAgent("pki", "issue", "agent", AGENT), 1, /Certificate exists, please use --upsert/);
  assert.match(ok(await toAgent("pki", "issue", "agent", AGENT, "-u")), /argocd-agent-client-tls updated\.\nAgent CA secret/);

  // --same-context: one cluster for both, the command's own --agent-namespace.
  await ensureNamespace(cp, "agent-local");
  ok(await ctl("--agent-context", CP, "pki", "issue", "agent", "agent-local", "--same-context", "--agent-namespace", "agent-local", "--key-algorithm", "ed25519"));
  assert.match(certOf(await secret(cp, "agent-local", "argocd-agent-client-tls")).subject, /CN=agent-local$/);
  assert.equal(field(await secret(cp, "agent-local", "argocd-agent-ca"), "ca.crt"), caTls);
});

test("pki propagate: the CA certificate (not its key) to the agent's cluster; --force to replace", async () => {
  await wl.core.deleteNamespacedSecret({ name: "argocd-agent-ca", namespace: agentNs });
  assert.equal(ok(await toAgent("pki", "propagate")), `Agent CA secret ${agentNs}/argocd-agent-ca created\n`);
  const s = await secret(wl, agentNs, "argocd-agent-ca");
  assert.equal(s.type, "Opaque");
  assert.deepEqual(Object.keys(s.data ?? {}), ["ca.crt"]);
  assert.equal(field(s, "ca.crt"), field(await secret(cp, cpNs, "argocd-agent-ca"), "tls.crt"));
  fails(await toAgent("pki", "propagate"), 1, /already exists; use --force/);
  ok(await toAgent("pki", "propagate", "-f"));
});

test("pki inspect: json (one-space indent), yaml and text summaries as upstream prints them", async () => {
  const caPem = field(await secret(cp, cpNs, "argocd-agent-ca"), "tls.crt");
  const ca = new X509Certificate(caPem);
  const raw = ok(await ctl("pki", "inspect"));
  assert.match(raw, /^\{\n "ca": \{\n  "subject": "CN=argocd-agent-ca,O=DO NOT USE IN PRODUCTION",\n  "keyType": "ECDSA",\n  "keyLength": 256,\n/);
  const j = JSON.parse(raw) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(j), ["ca", "principal", "resourceProxy"]);
  assert.deepEqual(Object.keys(j["ca"]!), ["subject", "keyType", "keyLength", "notBefore", "notAfter", "sha256"], "empty ips/dns/warnings are omitted");
  assert.match(String(j["ca"]!["notBefore"]), RFC1123Z);
  assert.match(String(j["ca"]!["notAfter"]), /\+0000$/);
  assert.equal(Date.parse(String(j["ca"]!["notAfter"])), Date.parse(ca.validTo));
  assert.equal(j["ca"]!["sha256"], createHash("sha256").update(ca.raw).digest("hex"));
  assert.deepEqual(j["principal"]!["ips"], ["10.1.2.3", "127.0.0.1"]);
  assert.deepEqual(j["principal"]!["dns"], ["principal.example", "localhost"]);
  assert.equal(j["principal"]!["keyLength"], 384);
  assert.equal(j["resourceProxy"]!["keyType"], "ECDSA");
  assert.equal(j["resourceProxy"]!["keyLength"], 521);

  const yamlText = ok(await ctl("pki", "inspect", "-o", "yaml"));
  assert.deepEqual(parseYaml(yamlText), j);
  assert.match(yamlText, /\nprincipal:\n  subject: CN=argocd-agent-principal,O=DO NOT USE IN PRODUCTION\n[\s\S]*\n  ips:\n  - 10\.1\.2\.3\n  - 127\.0\.0\.1\n/);

  const text = ok(await ctl("pki", "inspect", "-o", "text")).split("\n");
  assert.equal(text[0], `CA:              {CN=argocd-agent-ca,O=DO NOT USE IN PRODUCTION ECDSA 256 ${j["ca"]!["notBefore"]} ${j["ca"]!["notAfter"]} ${j["ca"]!["sha256"]} [] [] []}`);
  assert.match(text[1]!, /^Principal: {7}\{CN=argocd-agent-principal,O=DO NOT USE IN PRODUCTION ECDSA 384 .* \[10\.1\.2\.3 127\.0\.0\.1\] \[principal\.example localhost\] \[\]\}$/);
  assert.match(text[2]!, /^Resource Proxy: {2}\{/);

  // A certificate Secret that is missing is an all-zero summary (omitted in YAML), as upstream.
  await cp.core.deleteNamespacedSecret({ name: "argocd-agent-resource-proxy-tls", namespace: cpNs });
  const zero = JSON.parse(ok(await ctl("pki", "inspect"))) as Record<string, unknown>;
  assert.deepEqual(zero["resourceProxy"], { subject: "", keyType: "", keyLength: 0, notBefore: "", notAfter: "", sha256: "" });
  assert.equal((parseYaml(ok(await ctl("pki", "inspect", "-o", "yaml"))) as Record<string, unknown>)["resourceProxy"], undefined);
  assert.match(ok(await ctl("pki", "inspect", "-o", "text")), /\nResource Proxy: {2}\{ {2}0 {4}\[\] \[\] \[\]\}\n$/);
});

test("pki dump: the CA's certificate and PKCS#8 key as PEM", async () => {
  const s = await secret(cp, cpNs, "argocd-agent-ca");
  const cert = ok(await ctl("pki", "dump", "--cert"));
  assert.equal(cert, new X509Certificate(field(s, "tls.crt")).toString());
  const key = ok(await ctl("pki", "dump", "--key"));
  assert.match(key, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
  assert.ok(new X509Certificate(cert).checkPrivateKey(createPrivateKey(key)));
  assert.equal(ok(await ctl("pki", "dump", "--all")), cert + key);
});

test("pki delete: only an uppercase YES on stdin deletes the CA", async () => {
  const no = await ctlWithInput("yes\n", "pki", "delete");
  assert.equal(no.code, 1);
  assert.equal(no.stdout, "Really delete CA (use uppercase YES to delete)?: yes\n");
  assert.match(no.stderr, /Aborted\./);
  assert.ok(await getSecret(cp, cpNs, "argocd-agent-ca"), "still there");
  const yes = await ctlWithInput("YES\n", "pki", "delete");
  assert.equal(yes.code, 0, yes.stderr);
  assert.equal(yes.stdout, "Really delete CA (use uppercase YES to delete)?: CA successfully deleted.\n");
  assert.equal(await getSecret(cp, cpNs, "argocd-agent-ca"), undefined);
  assert.ok(await getSecret(cp, cpNs, "argocd-agent-principal-tls"), "only the CA is deleted");
  fails(await ctlWithInput("YES\n", "pki", "delete"), 1, /CA not configured\./);
  fails(await ctl("pki", "inspect"), 1, /CA is not initialized/);
  fails(await ctl("pki", "dump", "--cert"), 1, /CA not configured\./);
  fails(await ctl("pki", "issue", "principal", "-u"), 1, /CA not configured.*pki init/);
});

/** A CA made as upstream's `pki init` makes it (serial 1, O + CN, KU digitalSignature|keyCertSign, no backdating). */
async function upstreamFormatRsaCa(): Promise<{ cert: string; key: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const now = new Date();
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: [{ "2.5.4.10": ["DO NOT USE IN PRODUCTION"] }, { "2.5.4.3": ["argocd-agent-ca"] }],
    notBefore: now,
    notAfter: new Date(now.getTime() + 3650 * DAY),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
      new x509.BasicConstraintsExtension(true, undefined, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as webcrypto.CryptoKey));
  return { cert: c.toString("pem") + "\n", key: createPrivateKey({ key: der, format: "der", type: "pkcs8" }).export({ type: "pkcs8", format: "pem" }).toString() };
}

test("an upstream-format RSA CA Secret is read: issuing and inspecting work off it", async () => {
  const ca = await upstreamFormatRsaCa();
  await cp.core.createNamespacedSecret({
    namespace: cpNs,
    body: { metadata: { name: "argocd-agent-ca" }, type: "kubernetes.io/tls", data: { "tls.crt": Buffer.from(ca.cert).toString("base64"), "tls.key": Buffer.from(ca.key).toString("base64") } },
  });
  ok(await ctl("pki", "issue", "principal", "-u", "--key-algorithm", "rsa", "--key-size", "2048"));
  const leafPem = field(await secret(cp, cpNs, "argocd-agent-principal-tls"), "tls.crt");
  assert.ok(new X509Certificate(leafPem).verify(new X509Certificate(ca.cert).publicKey));
  assert.deepEqual(new x509.X509Certificate(leafPem).signatureAlgorithm, { name: "RSASSA-PKCS1-v1_5", hash: { name: "SHA-256" } }, "SHA256WithRSA, as Go signs with an RSA CA");
  const j = JSON.parse(ok(await ctl("pki", "inspect"))) as Record<string, Record<string, unknown>>;
  assert.equal(j["ca"]!["keyType"], "RSA");
  assert.equal(j["ca"]!["keyLength"], 2048);
  assert.equal(j["ca"]!["warnings"], undefined);

  // The same CA with a PKCS#1 key (as openssl writes it) loads too; a non-TLS Secret is refused.
  const pkcs1 = createPrivateKey(ca.key).export({ type: "pkcs1", format: "pem" }).toString();
  const current = await secret(cp, cpNs, "argocd-agent-ca");
  current.data!["tls.key"] = Buffer.from(pkcs1).toString("base64");
  await cp.core.replaceNamespacedSecret({ name: "argocd-agent-ca", namespace: cpNs, body: current });
  assert.match(field(await secret(cp, cpNs, "argocd-agent-ca"), "tls.key"), /BEGIN RSA PRIVATE KEY/);
  ok(await ctl("pki", "issue", "resource-proxy", "-u", "--dns", "rp.example", "--key-algorithm", "ecdsa-p256"));
  await cp.core.deleteNamespacedSecret({ name: "argocd-agent-ca", namespace: cpNs });
  await cp.core.createNamespacedSecret({ namespace: cpNs, body: { metadata: { name: "argocd-agent-ca" }, type: "Opaque", data: { "tls.crt": Buffer.from(ca.cert).toString("base64"), "tls.key": Buffer.from(ca.key).toString("base64") } } });
  fails(await ctl("pki", "issue", "principal", "-u"), 1, /not a TLS secret/);
  await cp.core.deleteNamespacedSecret({ name: "argocd-agent-ca", namespace: cpNs });
});

test("jwt create-key, inspect-key, delete-key", async () => {
  const created = ok(await ctl("jwt", "create-key"));
  assert.equal(created, `Generating JWT signing key...\nSuccess. JWT signing key created and stored in secret ${cpNs}/argocd-agent-jwt\n`);
  const s = await secret(cp, cpNs, "argocd-agent-jwt");
  assert.equal(s.type, "Opaque");
  assert.deepEqual(Object.keys(s.data ?? {}), ["jwt.key"]);
  assert.match(field(s, "jwt.key"), /^-----BEGIN PRIVATE KEY-----\n/);
  const key = createPrivateKey(field(s, "jwt.key"));
  assert.equal(key.asymmetricKeyType, "rsa");
  assert.equal(key.asymmetricKeyDetails?.modulusLength, 4096);
  fails(await ctl("jwt", "create-key"), 1, /JWT secret already exists\. Use --upsert to recreate it\./);

  const sha = createHash("sha256").update(createPublicKey(key).export({ type: "spki", format: "der" })).digest("hex");
  const raw = ok(await ctl("jwt", "inspect-key"));
  assert.match(raw, /^\{\n "keyType": "RSA",\n "keyLength": 4096,\n "created": "[^"]+",\n "sha256": "[0-9a-f]{64}"\n\}\n$/);
  const j = JSON.parse(raw) as { created: string; sha256: string };
  assert.equal(j.sha256, sha);
  assert.match(j.created, RFC1123Z);
  assert.equal(Date.parse(j.created), new Date(s.metadata!.creationTimestamp!).getTime());
  assert.deepEqual(parseYaml(ok(await ctl("jwt", "inspect-key", "-o", "yaml"))), j);
  assert.equal(ok(await ctl("jwt", "inspect-key", "-o", "text")),
    `Key type:         RSA\nKey length:       4096\nCreated:          ${j.created}\nKey fingerprint:  ${sha}\n`);

  assert.equal(ok(await ctl("jwt", "create-key", "--upsert")), `Generating JWT signing key...\nSuccess. JWT signing key updated in secret ${cpNs}/argocd-agent-jwt\n`);
  assert.notEqual((JSON.parse(ok(await ctl("jwt", "inspect-key"))) as { sha256: string }).sha256, sha, "a new key");

  const declined = await ctlWithInput("n\n", "jwt", "delete-key");
  assert.equal(ok(declined), "Are you sure you want to delete the JWT signing key? [y/N]: Aborted.\n");
  assert.ok(await getSecret(cp, cpNs, "argocd-agent-jwt"));
  assert.equal(ok(await ctlWithInput("y\n", "jwt", "delete-key")),
    `Are you sure you want to delete the JWT signing key? [y/N]: JWT signing key secret ${cpNs}/argocd-agent-jwt deleted successfully.\n`);
  assert.equal(await getSecret(cp, cpNs, "argocd-agent-jwt"), undefined);
  assert.equal(ok(await ctl("jwt", "delete-key", "-f")), `JWT secret ${cpNs}/argocd-agent-jwt does not exist.\n`);
  fails(await ctl("jwt", "inspect-key"), 1, /argocd-agent-jwt does not exist/);

  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await cp.core.createNamespacedSecret({ namespace: cpNs, body: { metadata: { name: "argocd-agent-jwt" }, type: "Opaque", data: { "jwt.key": Buffer.from(ec).toString("base64") } } });
  fails(await ctl("jwt", "inspect-key"), 1, /JWT signing key is not an RSA private key/);
  ok(await ctl("jwt", "delete-key", "--force"));
});

// ---------------------------------------------------------------------------------------------
// Acceptance: nothing but what the ctl wrote, and our principal and agent connect with mTLS.


function httpsGet(port: number, path: string, tls: { ca: string; cert: string; key: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path, ...tls, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("acceptance: principal and agent start from the ctl's Secrets alone and connect with mTLS", { timeout: 180_000 }, async () => {
  const ports = { grpc: await freePort(), rp: await freePort(), pHealth: await freePort(), pMetrics: await freePort(), aHealth: await freePort(), aMetrics: await freePort() };
  ok(await ctl("pki", "init", "--force"));
  ok(await ctl("jwt", "create-key", "--upsert"));
  ok(await ctl("pki", "issue", "principal", "--upsert"));
  ok(await ctl("pki", "issue", "resource-proxy", "--upsert", "--ip", "127.0.0.1", "--dns", "localhost"));
  ok(await toAgent("pki", "issue", "agent", AGENT, "--upsert"));
  ok(await ctl("agent", "create", AGENT, "--resource-proxy-server", `127.0.0.1:${ports.rp}`));
  await ensureNamespace(cp, AGENT);

  const principalArgs = [
    "principal", "-n", cpNs, "--kubeconfig", env.cluster(CP).kubeconfigPath,
    "--listen-host", "127.0.0.1", "--listen-port", String(ports.grpc), "--auth", "mtls:subject:^CN=([^,]+)",
    "--resource-proxy-port", String(ports.rp), "--disable-redis-proxy=true",
    "--healthz-port", String(ports.pHealth), "--metrics-port", String(ports.pMetrics),
  ];
  const startPrincipal = async () => {
    const p = start(principalArgs);
    running.push(p);
    await p.waitFor(/principal started/, 60_000);
    return p;
  };
  let principal = await startPrincipal();
  const agent = start([
    "agent", "-n", agentNs, "--agent-mode", "managed", "--kubeconfig", env.cluster(AGENT).kubeconfigPath,
    "--server-address", "127.0.0.1", "--server-port", String(ports.grpc), "--creds", "mtls:any",
    "--healthz-port", String(ports.aHealth), "--metrics-port", String(ports.aMetrics),
  ]);
  running.push(agent);
  await eventually("agent connected", async () => (await metric(ports.aMetrics, "argocd_agent_connection_status")) === 1, 60_000);
  assert.equal(await metric(ports.pMetrics, "argocd_principal_connected_agents"), 1);
  assert.equal(await metric(ports.pMetrics, "argocd_principal_agent_connections_total", `agent_name="${AGENT}"`), 1);
  assert.match(principal.output(), /extracted agent identity from client certificate[\s\S]*agent-1/);

  // Argo CD's way in: the cluster Secret's client certificate through the resource proxy's certificate.
  const cluster = await secret(cp, cpNs, `cluster-${AGENT}`);
  const tlsConfig = (JSON.parse(field(cluster, "config")) as { tlsClientConfig: Record<string, string> }).tlsClientConfig;
  const pem = (k: string) => Buffer.from(tlsConfig[k]!, "base64").toString();
  const version = await httpsGet(ports.rp, "/version", { ca: pem("caData"), cert: pem("certData"), key: pem("keyData") });
  assert.equal(version.status, 200, version.body);
  assert.match((JSON.parse(version.body) as { GitVersion: string }).GitVersion, /\+argocd-agent$/);

  // Rotation (§6.3): a new JWT key and a restarted principal; the agent authenticates again.
  ok(await ctl("jwt", "create-key", "--upsert"));
  await principal.stop();
  principal = await startPrincipal();
  await eventually("agent reconnected", async () => (await metric(ports.pMetrics, "argocd_principal_connected_agents")) === 1, 60_000);
  await eventually("agent ready", async () => (await fetch(`http://127.0.0.1:${ports.aHealth}/readyz`).then((r) => r.status, () => 0)) === 200);
});
