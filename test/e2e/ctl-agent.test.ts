/**
 * `argocd-agent ctl agent …`, `ctl config …` and `ctl validate …` against two real
 * kube-apiservers (hub = principal's cluster, spoke = an agent's), the CLI run from source as a
 * user runs it: own HOME (config file), one kubeconfig with both contexts (current: spoke, so
 * the config file's default principal is what picks the hub), answers piped on stdin. A
 * cluster Secret in upstream's format (built here from operations.md §1.4) is read and rewritten
 * like ours. `validate` is shown a good installation, then each broken one it claims to find.
 * (That real Argo CD reads the cluster Secrets `agent create` writes is proven end to end by
 * argocd-live-resources.test.ts.)
 */
import assert from "node:assert/strict";
import { X509Certificate, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AppsV1Api, type V1Secret } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import type { KubeClient } from "../support/kube-client.ts";
import { ensureNamespace, isNotFound } from "../../src/kube/crud.ts";
import { createCa, issueCertificate, type CertificateAuthority } from "../../src/transport/certificates.ts";
import {
  DAY_MS, b64, deleteDeployment, deleteSecret, installOpenCrd, plainKubeClient, putArgoCdComponent, putRedisNetworkPolicy, putSecret, runCtl, tlsSecret, unb64,
  upstreamClusterSecret, upstreamStyleClientPem, writeMergedKubeconfig, type CtlRun,
} from "../support/ctl-fixtures.ts";
import { startKubeEnv, type KubeEnv } from "../support/kube-env.ts";

let env: KubeEnv;
let hub: KubeClient;
let spoke: KubeClient;
let dir: string;
let home: string;
let kubeconfig: string;
let ca: CertificateAuthority;
let NS: string; // principal namespace on the hub
let ANS: string; // agent namespace on the spoke
let upstreamPem: { cert: string; key: string; ca: string };

const ctl = (args: string[], input = "") => runCtl({ kubeconfig, home }, args, input);
const onHub = (...args: string[]) => ctl(["--principal-context", "hub", "--principal-namespace", NS, ...args]);
const secret = (name: string, kube = hub, ns = NS): Promise<V1Secret> => kube.core.readNamespacedSecret({ name, namespace: ns });
const text = (s: V1Secret, key: string) => unb64(s.data?.[key]);
const clusterConfig = async (agent: string) => JSON.parse(text(await secret(`cluster-${agent}`), "config")) as { username?: string; password?: string; tlsClientConfig: Record<string, string | boolean> };
const ok = (r: CtlRun) => assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
const fails = (r: CtlRun, code: number, re: RegExp) => {
  assert.equal(r.code, code, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, re);
};

before(async () => {
  env = await startKubeEnv({ clusters: ["hub", "spoke"] });
  hub = plainKubeClient(env.cluster("hub").kubeConfig);
  spoke = plainKubeClient(env.cluster("spoke").kubeConfig);
  NS = env.cluster("hub").ns("argocd");
  ANS = env.cluster("spoke").ns("argocd");
  dir = mkdtempSync(join(tmpdir(), "ctl-agent-test-"));
  home = join(dir, "home");
  kubeconfig = writeMergedKubeconfig(dir, [env.cluster("hub"), env.cluster("spoke")], "spoke");
  ca = await createCa("argocd-agent-ca", 3650);
  await putSecret(hub, NS, tlsSecret("argocd-agent-ca", ca.cert, ca.key));
  upstreamPem = await upstreamStyleClientPem("agent-up");
}, { timeout: 180_000 });
after(async () => {
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- agent

test("agent create, then list with and without label selectors (alias agents)", async () => {
  ok(onHub("agent", "create", "agent-a", "--resource-proxy-server", "rp.example:9090", "-l", "env=prod", "--key-algorithm", "ecdsa-p256"));
  ok(onHub("agent", "create", "agent-b", "--key-algorithm", "ecdsa-p256"));
  await putSecret(hub, NS, upstreamClusterSecret("agent-up", "argocd-agent-resource-proxy:9090", upstreamPem));
  // A Secret without the agent-name label is not an agent.
  await putSecret(hub, NS, { metadata: { name: "cluster-plain", labels: { "argocd.argoproj.io/secret-type": "cluster" } }, data: { server: b64("https://x") } });
  const all = onHub("agent", "list");
  ok(all);
  assert.deepEqual(all.stdout.trim().split("\n").sort(), ["agent-a", "agent-b", "agent-up"]);
  const prod = onHub("agents", "list", "-l", "env=prod");
  ok(prod);
  assert.equal(prod.stdout, "agent-a\n");
  fails(onHub("agent", "list", "-l", "env=none"), 1, /No agents found\./);
  fails(onHub("agent", "create", "agent-x", "--tls-from-secret", "a", "--ca-from-secret", "b", "--key-algorithm", "ed25519"), 2, /--key-algorithm/);
});

test("agent inspect: json (one-space indent), yaml and text (alias show); upstream's Secret reads alike", async () => {
  const cfg = await clusterConfig("agent-a");
  const cert = new X509Certificate(unb64(cfg.tlsClientConfig.certData as string));
  const r = onHub("agent", "inspect", "agent-a");
  ok(r);
  assert.match(r.stdout, /^\{\n "server": /);
  const json = JSON.parse(r.stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(json), ["server", "name", "notValidBefore", "notValidAfter", "fingerprint"]);
  assert.equal(json.server, "https://rp.example:9090?agentName=agent-a");
  assert.equal(json.name, "agent-a");
  assert.equal(json.fingerprint, cert.fingerprint256.replaceAll(":", ""));
  assert.match(json.fingerprint!, /^[0-9A-F]{64}$/);
  assert.match(json.notValidBefore!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(Math.round((Date.parse(json.notValidAfter!) - Date.now()) / DAY_MS), 180);

  const yaml = onHub("agent", "show", "agent-a", "-o", "yaml");
  ok(yaml);
  assert.deepEqual(parseYaml(yaml.stdout), json);

  const t = onHub("agent", "inspect", "agent-a", "-o", "text");
  ok(t);
  const lines = t.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.map((l) => l.slice(0, 24)), ["Server address:         ", "Server name:            ", "Not valid before:       ", "Not valid after:        ", "Fingerprint (SHA-256):  "]);
  assert.equal(lines[4]!.slice(24), json.fingerprint);
  assert.match(lines[2]!.slice(24), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$/);

  const up = JSON.parse(onHub("agent", "inspect", "agent-up").stdout) as Record<string, string>;
  assert.equal(up.server, "https://argocd-agent-resource-proxy:9090?agentName=agent-up");
  assert.equal(up.fingerprint, new X509Certificate(upstreamPem.cert).fingerprint256.replaceAll(":", ""));

  fails(onHub("agent", "inspect", "nope"), 1, /No such agent configured: nope/);
  fails(onHub("agent", "inspect", "agent-a", "-o", "xml"), 2, /--output/);
});

test("agent print-tls prints the PEM assets of the cluster Secret (alias dump-tls)", async () => {
  const cfg = await clusterConfig("agent-a");
  const pem = (k: string) => unb64(cfg.tlsClientConfig[k] as string);
  const cert = onHub("agent", "print-tls", "agent-a");
  ok(cert);
  assert.equal(cert.stdout, pem("certData"));
  assert.equal(onHub("agent", "print-tls", "agent-a", "-t", "key").stdout, pem("keyData"));
  assert.equal(onHub("agent", "dump-tls", "agent-a", "--type", "ca").stdout, ca.cert);
  assert.equal(onHub("agent", "print-tls", "agent-up", "-t", "ca").stdout, upstreamPem.ca);
  fails(onHub("agent", "print-tls", "agent-a", "-t", "bogus"), 2, /--type/);
  fails(onHub("agent", "print-tls", "nope"), 1, /Agent 'nope' is not configured\./);
});

test("agent reconfigure: server as create writes it, credentials, reissued certificate; only when something changed", async () => {
  const before = await secret("cluster-agent-a");
  const r = onHub("agent", "reconfigure", "agent-a", "--resource-proxy-server", "rp2.example:443");
  ok(r);
  assert.match(r.stdout, /Setting new server address\nCluster configuration saved/);
  let s = await secret("cluster-agent-a");
  assert.equal(text(s, "server"), "https://rp2.example:443?agentName=agent-a");
  assert.equal(s.metadata?.labels?.env, "prod", "labels kept");
  assert.equal(s.metadata?.annotations?.["argocd.argoproj.io/skip-reconcile"], "true", "annotations kept");
  assert.equal(text(s, "config"), text(before, "config"), "certificate untouched");

  const same = onHub("agent", "reconfigure", "agent-a", "--resource-proxy-server", "rp2.example:443");
  ok(same);
  assert.match(same.stdout, /Nothing to change/);
  assert.equal((await secret("cluster-agent-a")).metadata?.resourceVersion, s.metadata?.resourceVersion, "no write");

  ok(onHub("agent", "reconfigure", "agent-a", "--resource-proxy-server", "https://rp3.example:8443?agentName=agent-a"));
  assert.equal(text(await secret("cluster-agent-a"), "server"), "https://rp3.example:8443?agentName=agent-a");
  fails(onHub("agent", "reconfigure", "agent-a", "--resource-proxy-server", "rp2.example"), 2, /--resource-proxy-server/);

  const creds = onHub("agent", "reconfigure", "agent-a", "--resource-proxy-username", "alice", "--resource-proxy-password", "s3cret");
  ok(creds);
  assert.match(creds.stdout, /Setting new username\nSetting new password\nCluster configuration saved/);
  let cfg = await clusterConfig("agent-a");
  assert.deepEqual(Object.keys(cfg), ["username", "password", "tlsClientConfig"], "Go's ClusterConfig field order");
  assert.equal(cfg.username, "alice");

  const oldFp = new X509Certificate(unb64(cfg.tlsClientConfig.certData as string)).fingerprint256;
  ok(onHub("agent", "reconfigure", "agent-a", "--reissue-client-cert", "--days", "30", "--key-algorithm", "ecdsa-p384"));
  cfg = await clusterConfig("agent-a");
  const cert = new X509Certificate(unb64(cfg.tlsClientConfig.certData as string));
  assert.notEqual(cert.fingerprint256, oldFp);
  assert.match(cert.subject, /CN=agent-a/);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1");
  assert.equal(Math.round((cert.validToDate.getTime() - Date.now()) / DAY_MS), 30);
  assert.ok(cert.verify(new X509Certificate(ca.cert).publicKey));
  assert.equal(cfg.username, "alice", "credentials kept");

  fails(onHub("agent", "reconfigure", "agent-a", "--days", "30"), 2, /--days/);
  fails(onHub("agent", "reconfigure", "agent-a", "--key-algorithm", "rsa"), 2, /--key-algorithm/);
  fails(onHub("agent", "reconfigure", "agent-a", "--reissue-client-cert", "--days", "5000"), 2, /--days 5000/);
  fails(onHub("agent", "reconfigure", "agent-a", "--reissue-client-cert", "--days", "0"), 2, /--days/);
  fails(onHub("agent", "reconfigure", "nope", "--resource-proxy-username", "x"), 1, /No configuration found for agent nope/);
});

test("agent reconfigure rewrites upstream's Secret in Argo CD's format, keeping the rest", async () => {
  ok(onHub("agent", "reconfigure", "agent-up", "--resource-proxy-username", "admin"));
  const s = await secret("cluster-agent-up");
  assert.equal(text(s, "server"), "https://argocd-agent-resource-proxy:9090?agentName=agent-up");
  assert.equal(text(s, "name"), "agent-up");
  // Argo CD's ClusterConfig JSON (operations.md §1.4): Go field order, []byte fields as base64 of the PEM.
  assert.equal(text(s, "config"),
    `{"username":"admin","tlsClientConfig":{"insecure":false,"certData":"${b64(upstreamPem.cert)}","keyData":"${b64(upstreamPem.key)}","caData":"${b64(upstreamPem.ca)}"}}`);
  assert.equal(s.metadata?.annotations?.["managed-by"], "argocd-agent");
  assert.equal(s.metadata?.labels?.["argocd-agent.argoproj-labs.io/agent-name"], "agent-up");
  ok(onHub("agent", "inspect", "agent-up"));
});

test("agent delete asks y/N unless --force; refuses what is not an agent", async () => {
  const no = onHub("agent", "delete", "agent-b", "--key", "x");
  assert.equal(no.code, 2, "unknown flag");
  const declined = ctl(["--principal-context", "hub", "--principal-namespace", NS, "agent", "delete", "agent-b"], "n\n");
  ok(declined);
  assert.match(declined.stdout, new RegExp(`Really delete agent agent-b \\(Secret ${NS}/cluster-agent-b\\)\\? \\[y/N\\]: Aborted\\.`));
  await secret("cluster-agent-b");
  assert.match(ctl(["--principal-context", "hub", "--principal-namespace", NS, "agent", "delete", "agent-b"]).stdout, /Aborted\./, "end of input is no");
  const yes = ctl(["--principal-context", "hub", "--principal-namespace", NS, "agent", "delete", "agent-b"], "y\n");
  ok(yes);
  assert.match(yes.stdout, /Agent agent-b deleted/);
  await assert.rejects(secret("cluster-agent-b"), (err) => isNotFound(err));
  ok(onHub("agent", "create", "agent-c", "--key-algorithm", "ecdsa-p256"));
  ok(onHub("agent", "delete", "agent-c", "-f"));
  await assert.rejects(secret("cluster-agent-c"), (err) => isNotFound(err));
  await putSecret(hub, NS, { metadata: { name: "cluster-opaque" }, data: { a: b64("1") } });
  fails(onHub("agent", "delete", "opaque", "-f"), 1, /not an Argo CD cluster Secret/);
  fails(onHub("agent", "delete", "nope", "-f"), 1, /No such agent configured: nope/);
  await deleteSecret(hub, NS, "cluster-opaque");
});

// ---------------------------------------------------------------- config file

const confPath = () => join(home, ".config", "argocd-agent", "ctl.conf");

test("config create asks per kubeconfig context (answers piped on stdin) and writes the file 0600", () => {
  const half = ctl(["config", "create", "--output-path", join(dir, "half.conf")], "principal\n");
  fails(half, 1, /input ended/);
  assert.equal(existsSync(join(dir, "half.conf")), false, "nothing written");

  const answers = ["maybe", "principal", NS, "hub-p", "agent", ANS, "spoke-a", "nobody", "hub-p"].join("\n") + "\n";
  const r = ctl(["config", "create"], answers);
  ok(r);
  assert.match(r.stdout, /Found context hub, is this a principal or agent\? If is neither type leave blank to skip\.: /);
  assert.match(r.stdout, /Which namespace is the agent installed in\?: /);
  assert.match(r.stdout, /> hub-p\nWhich of the above principals do you want to use as the default\?: /);
  assert.match(r.stdout, new RegExp(`Successfully wrote config to ${confPath()}`));
  assert.deepEqual(parseYaml(readFileSync(confPath(), "utf8")), {
    contexts: { principals: { "hub-p": { "kube-context": "hub", namespace: NS } }, agents: { "spoke-a": { "kube-context": "spoke", namespace: ANS } } },
    "default-principal": "hub-p",
  });
  assert.equal(statSync(confPath()).mode & 0o777, 0o600);
});

test("target resolution: context flags, then --principal, then the default principal, then the current context", async () => {
  // The kubeconfig's current context is the spoke; the default principal is the hub.
  const byDefault = ctl(["agent", "list"]);
  ok(byDefault);
  assert.deepEqual(byDefault.stdout.trim().split("\n").sort(), ["agent-a", "agent-up"]);
  fails(ctl(["--principal-context", "spoke", "agent", "list"]), 1, /No agents found/);

  const team = env.cluster("hub").ns("team-b");
  await ensureNamespace(hub, team);
  await putSecret(hub, team, upstreamClusterSecret("agent-z", "rp:9090", upstreamPem));
  const added = ctl(["config", "add", "principal", "--name", "hub-b", "--context", "hub", "--namespace", team]);
  ok(added);
  assert.equal(added.stdout, "New principal hub-b added successfully\n");
  assert.equal(ctl(["--principal", "hub-b", "agent", "list"]).stdout, "agent-z\n");
  fails(ctl(["--principal", "nope", "agent", "list"]), 2, /--principal.*nope/);
  fails(ctl(["--agent", "nope", "validate", "agent"]), 2, /--agent.*nope/);

  // An invalid file is ignored with a warning; unparseable YAML is an error.
  const bad = join(dir, "bad.conf");
  writeFileSync(bad, "contexts:\n  principals: {}\ndefault-principal: ghost\n");
  const warned = ctl(["--config", bad, "agent", "list"]);
  fails(warned, 1, /warning: .*default principal ghost does not exist.*defaulting to using no config/);
  assert.match(warned.stderr, /No agents found/, "fell back to the current context (spoke)");
  writeFileSync(bad, "contexts: [unclosed\n");
  fails(ctl(["--config", bad, "agent", "list"]), 1, /not valid YAML/);
});

test("config add, edit, delete and list", () => {
  const conf = join(dir, "cfg", "ctl.conf");
  const c = (...args: string[]) => ctl(["--config", conf, "config", ...args]);
  fails(c("add", "principal", "--name", "p1", "--namespace", "argocd"), 2, /--context/);
  ok(c("add", "principal", "--name", "p1", "--context", "hub", "--namespace", "argocd", "--set-default"));
  fails(c("add", "principal", "--name", "p1", "--context", "hub", "--namespace", "argocd"), 1, /A principal with the name p1 already exists/);
  assert.equal(c("add", "agent", "--name", "a1", "--context", "spoke", "--namespace", "argocd").stdout, "New agent a1 added successfully\n");
  assert.equal(statSync(conf).mode & 0o777, 0o600);
  assert.equal(c("list").stdout, "COMPONENT  NAME  CONTEXT  NAMESPACE\nprincipal  p1    hub      argocd\nagent      a1    spoke    argocd\n");
  assert.equal(c("list", "principal").stdout, "NAME  CONTEXT  NAMESPACE  DEFAULT\np1    hub      argocd     X\n");
  assert.equal(c("list", "agent").stdout, "NAME  CONTEXT  NAMESPACE\na1    spoke    argocd\n");
  fails(c("list", "things"), 2, /things/);
  assert.equal(c("edit", "principal", "--name", "p1", "--namespace", "ns2").stdout, "Principal p1 updated successfully\n");
  assert.match(readFileSync(conf, "utf8"), /p1:\n {6}kube-context: hub\n {6}namespace: ns2\n/);
  fails(c("edit", "agent", "--name", "nope", "--context", "x"), 1, /The agent nope does not exist in the config/);
  fails(c("delete", "principal", "--name", "p1"), 1, /Cannot delete the default principal/);
  ok(c("add", "principal", "--name", "p2", "--context", "hub", "--namespace", "argocd", "--set-default"));
  assert.equal(c("delete", "principal", "--name", "p1").stdout, "Principal p1 deleted successfully\n");
  assert.equal(c("delete", "agent", "--name", "a1").stdout, "Agent a1 deleted successfully\n");
  assert.deepEqual(parseYaml(readFileSync(conf, "utf8")), { contexts: { principals: { p2: { "kube-context": "hub", namespace: "argocd" } }, agents: {} }, "default-principal": "p2" });
});

// ---------------------------------------------------------------- validate

/** check name → its ERROR text ("" when it passed), from `validate` output. */
function checks(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = stdout.split("\n");
  assert.equal(lines[0], "Configuration validation results:");
  for (let i = 1; i < lines.length; i++) {
    const m = /^\* (.*): (✅|❌)$/.exec(lines[i]!);
    if (!m) continue;
    let error = "";
    if (m[2] === "❌") {
      assert.match(lines[i + 1]!, /^ERROR: /);
      const rest: string[] = [];
      for (let j = i + 1; j < lines.length && !lines[j]!.startsWith("* "); j++) rest.push(lines[j]!);
      error = rest.join("\n").replace(/^ERROR: /, "").trim();
    }
    out.set(m[1]!, error);
  }
  return out;
}

const validPrincipal = () => onHub("validate", "principal");
const validAgent = () => ctl(["--agent", "spoke-a", "validate", "agent"]); // principal = the config's default (hub-p)

function passes(r: CtlRun, count: number): Map<string, string> {
  ok(r);
  const c = checks(r.stdout);
  assert.equal(c.size, count, r.stdout);
  assert.deepEqual([...c.values()].filter(Boolean), []);
  return c;
}

/** Exit 1, and exactly the named checks (by name prefix) failed, each with an ERROR matching its pattern. */
function onlyFailing(r: CtlRun, expected: Record<string, RegExp>): void {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /one or more checks failed/);
  const failed = [...checks(r.stdout)].filter(([, e]) => e);
  assert.deepEqual(failed.map(([n]) => Object.keys(expected).find((p) => n.startsWith(p)) ?? n).sort(), Object.keys(expected).sort(), r.stdout);
  for (const [name, error] of failed) assert.match(error, expected[Object.keys(expected).find((p) => name.startsWith(p))!]!, r.stdout);
}

const issue = (cn: string, o: { signer?: CertificateAuthority; dns?: string[]; notBefore?: Date; days?: number; server?: boolean } = {}) =>
  issueCertificate(o.signer ?? ca, { commonName: cn, dnsNames: o.dns, server: o.server ?? false, client: !o.server, notBefore: o.notBefore, validDays: o.days ?? 180 });
const rsaJwt = () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
const CA_CHECK = "Verifying principal public CA certificate";
const TLS_CHECK = "Verifying principal gRPC TLS certificate";
const JWT_CHECK = "Verifying JWT signing key";

let principalTls: { cert: string; key: string };

test("validate principal: a good installation passes every check", async () => {
  await hub.core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "argocd-cm" }, data: {} } });
  principalTls = await issue("argocd-agent-principal", { dns: ["principal.example.com"], server: true });
  await putSecret(hub, NS, tlsSecret("argocd-agent-principal-tls", principalTls.cert, principalTls.key));
  const rp = await issue("argocd-agent-resource-proxy", { dns: ["argocd-agent-resource-proxy"], server: true });
  await putSecret(hub, NS, tlsSecret("argocd-agent-resource-proxy-tls", rp.cert, rp.key));
  await putSecret(hub, NS, { metadata: { name: "argocd-agent-jwt" }, type: "Opaque", data: { "jwt.key": b64(rsaJwt()) } });
  await putRedisNetworkPolicy(hub, NS, ["argocd-server", "argocd-repo-server", "argocd-agent-principal"]);
  for (const c of ["repo-server", "redis", "dex-server", "server"]) await putArgoCdComponent(hub, NS, c);
  const c = passes(validPrincipal(), 10);
  assert.ok(c.has(`${CA_CHECK} exists and is valid (${NS}/argocd-agent-ca)`));
  assert.ok(c.has(`Verifying no Application CRs defined within the principal's Argo CD namespace: ${NS}`));
  assert.equal([...c.keys()].some((n) => n.includes("OpenShift")), false, "no Route API: no Route check");
});

/**
 * Breaks the installation with `apply`, runs `expect`, and always puts it right again with
 * `restore`, so one failing expectation does not spill into the next case.
 */
async function broken(apply: () => Promise<unknown>, restore: () => Promise<unknown>, expect: () => void): Promise<void> {
  await apply();
  try {
    expect();
  } finally {
    await restore();
  }
}

const jwtSecret = (name: string, pem: string): V1Secret => ({ metadata: { name }, type: "Opaque", data: { "jwt.key": b64(pem) } });

test("validate principal finds a missing or broken CA, an expired or missing principal certificate, a bad JWT key", async () => {
  const caSecret = await secret("argocd-agent-ca");
  const restoreCa = () => putSecret(hub, NS, { metadata: { name: "argocd-agent-ca" }, type: caSecret.type, data: caSecret.data });
  await broken(() => deleteSecret(hub, NS, "argocd-agent-ca"), restoreCa,
    () => onlyFailing(validPrincipal(), { [CA_CHECK]: /could not read TLS secret .*argocd-agent-ca/ }));
  const other = await createCa("other", 10);
  await broken(() => putSecret(hub, NS, tlsSecret("argocd-agent-ca", ca.cert, other.key)), restoreCa,
    () => onlyFailing(validPrincipal(), { [CA_CHECK]: /invalid cert or key data/ }));
  await broken(() => putSecret(hub, NS, { metadata: { name: "argocd-agent-ca" }, type: "Opaque", data: caSecret.data }), restoreCa,
    () => onlyFailing(validPrincipal(), { [CA_CHECK]: /not a TLS secret/ }));

  const restoreTls = () => putSecret(hub, NS, tlsSecret("argocd-agent-principal-tls", principalTls.cert, principalTls.key));
  const expired = await issue("argocd-agent-principal", { server: true, notBefore: new Date(Date.now() - 10 * DAY_MS), days: 1 });
  await broken(() => putSecret(hub, NS, tlsSecret("argocd-agent-principal-tls", expired.cert, expired.key)), restoreTls,
    () => onlyFailing(validPrincipal(), { [TLS_CHECK]: /expired at/ }));
  await broken(() => deleteSecret(hub, NS, "argocd-agent-principal-tls"), restoreTls,
    () => onlyFailing(validPrincipal(), { [TLS_CHECK]: /could not read TLS secret .*argocd-agent-principal-tls/ }));

  const restoreJwt = () => putSecret(hub, NS, jwtSecret("argocd-agent-jwt", rsaJwt()));
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  await broken(() => putSecret(hub, NS, jwtSecret("argocd-agent-jwt", ec)), restoreJwt,
    () => onlyFailing(validPrincipal(), { [JWT_CHECK]: /not an RSA private key/ }));
  const pkcs1 = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }) as string;
  await broken(() => putSecret(hub, NS, jwtSecret("argocd-agent-jwt", pkcs1)), restoreJwt,
    () => onlyFailing(validPrincipal(), { [JWT_CHECK]: /PKCS#8/ }));
  passes(validPrincipal(), 10);
});

test("validate principal finds bad cluster Secrets, Applications in its namespace, namespaced Argo CD", async () => {
  const badCluster: V1Secret = {
    metadata: { name: "cluster-bad", labels: { "argocd.argoproj.io/secret-type": "cluster" }, annotations: { "managed-by": "argocd-agent" } },
    data: { name: b64("bad"), server: b64("http://rp:9090"), config: b64("{}") },
  };
  await broken(() => putSecret(hub, NS, badCluster), () => deleteSecret(hub, NS, "cluster-bad"), () => onlyFailing(validPrincipal(), {
    "Verifying agent cluster secrets contain correct query parameter": /are not https: cluster-bad\n.*missing the agentName param: cluster-bad/,
    "Verifying agent cluster secrets contain the skip-reconcile annotation": /skip-reconcile annotation or it is not set to true: cluster-bad/,
  }));

  const apps = { group: "argoproj.io", version: "v1alpha1", namespace: NS, plural: "applications" };
  const app = { apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name: "misplaced" },
    spec: { project: "default", source: { repoURL: "https://example.invalid/repo.git", path: "guestbook" }, destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" } } };
  await broken(() => hub.custom.createNamespacedCustomObject({ ...apps, body: app }), () => hub.custom.deleteNamespacedCustomObject({ ...apps, name: "misplaced" }),
    () => onlyFailing(validPrincipal(), { "Verifying no Application CRs": new RegExp(`applications exist in principal namespace ${NS}`) }));

  const argocdCm = (data: Record<string, string>) => () => hub.core.replaceNamespacedConfigMap({ name: "argocd-cm", namespace: NS, body: { metadata: { name: "argocd-cm" }, data } });
  await broken(argocdCm({ "application.namespaces": "team-*" }), argocdCm({}),
    () => onlyFailing(validPrincipal(), { "Verifying Argo CD is running in cluster-scoped mode": /namespaced mode/ }));
  passes(validPrincipal(), 10);
});

test("validate principal finds a missing or closed redis NetworkPolicy and wrong Argo CD components", async () => {
  const NP = "Verifying Argo CD network policy allows for ingress from principal";
  const COMP = "Verifying deployed Argo CD components on principal";
  const restoreNp = () => putRedisNetworkPolicy(hub, NS, ["argocd-server", "argocd-agent-principal"]);
  await broken(() => putRedisNetworkPolicy(hub, NS, []), restoreNp,
    () => onlyFailing(validPrincipal(), { [NP]: new RegExp(`network policy for argo cd redis does not exist in ${NS}`) }));
  await broken(() => putRedisNetworkPolicy(hub, NS, ["argocd-server"]), restoreNp,
    () => onlyFailing(validPrincipal(), { [NP]: /does not allow traffic from argocd-agent-principal/ }));
  await broken(
    async () => {
      await putArgoCdComponent(hub, NS, "application-controller", "argocd-application-controller", "StatefulSet");
      await deleteDeployment(hub, NS, "argocd-dex-server");
    },
    async () => {
      await hub.kubeConfig.makeApiClient(AppsV1Api).deleteNamespacedStatefulSet({ name: "argocd-application-controller", namespace: NS });
      await putArgoCdComponent(hub, NS, "dex-server");
    },
    () => onlyFailing(validPrincipal(), { [COMP]: /components were missing: dex-server\nthe following invalid components were found: application-controller \(argocd-application-controller\)/ }),
  );
  passes(validPrincipal(), 10);
});

test("validate principal: secret names from the ArgoCD CR (when its CRD exists) and argocd-agent-params", async () => {
  await installOpenCrd(hub, "argoproj.io", "v1beta1", "ArgoCD", "argocds");
  const argocds = { group: "argoproj.io", version: "v1beta1", namespace: NS, plural: "argocds" };
  const cr = (spec: Record<string, unknown>) => ({ apiVersion: "argoproj.io/v1beta1", kind: "ArgoCD", metadata: { name: "argocd" }, spec });
  const jwtOverride = { argoCDAgent: { principal: { jwt: { secretName: "custom-jwt" } } } };
  await broken(
    async () => {
      await hub.core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "argocd-agent-params" }, data: { "principal.tls.secret-name": "params-tls" } } });
      await hub.custom.createNamespacedCustomObject({ ...argocds, body: cr(jwtOverride) });
    },
    async () => {
      await hub.custom.deleteNamespacedCustomObject({ ...argocds, name: "argocd" });
      await hub.core.deleteNamespacedConfigMap({ name: "argocd-agent-params", namespace: NS });
    },
    () => onlyFailing(validPrincipal(), {
      [`${TLS_CHECK} exists and is valid (${NS}/params-tls)`]: /could not read TLS secret/,
      [`${JWT_CHECK} exists and is parseable (${NS}/custom-jwt)`]: /could not read JWT secret/,
    }),
  );
  // With the named Secrets in place the same installation passes; the CR's applicationNamespaces means namespaced mode.
  await putSecret(hub, NS, jwtSecret("custom-jwt", rsaJwt()));
  await broken(() => hub.custom.createNamespacedCustomObject({ ...argocds, body: cr(jwtOverride) }), () => hub.custom.deleteNamespacedCustomObject({ ...argocds, name: "argocd" }),
    () => assert.ok(passes(validPrincipal(), 10).has(`${JWT_CHECK} exists and is parseable (${NS}/custom-jwt)`)));
  await broken(() => hub.custom.createNamespacedCustomObject({ ...argocds, body: cr({ ...jwtOverride, applicationNamespaces: ["team-*"] }) }),
    () => hub.custom.deleteNamespacedCustomObject({ ...argocds, name: "argocd" }),
    () => onlyFailing(validPrincipal(), { "Verifying Argo CD is running in cluster-scoped mode": /namespaced mode/ }));
  passes(validPrincipal(), 10);
});

test("validate principal on OpenShift: a Route host must match the principal certificate", async () => {
  await installOpenCrd(hub, "route.openshift.io", "v1", "Route", "routes");
  passes(validPrincipal(), 10); // the API exists but there are no Routes: no check
  const ROUTE = "Verifying principal TLS secret ips/dns match Route host (OpenShift)";
  const routes = { group: "route.openshift.io", version: "v1", namespace: NS, plural: "routes" };
  const route = (host: string) => () => hub.custom.createNamespacedCustomObject({
    ...routes, body: { apiVersion: "route.openshift.io/v1", kind: "Route", metadata: { name: "principal" }, spec: { host, to: { kind: "Service", name: "argocd-agent-principal" } } },
  });
  const removeRoute = () => hub.custom.deleteNamespacedCustomObject({ ...routes, name: "principal" });
  await broken(route("principal.example.com"), removeRoute, () => assert.equal(passes(validPrincipal(), 11).get(ROUTE), ""));
  await broken(route("elsewhere.example.com"), removeRoute, () => onlyFailing(validPrincipal(), { [ROUTE]: /no OpenShift Route host in namespace matches TLS IPS\/DNS/ }));
});

const AGENT_CHECKS = 16; // 10 principal + 6 agent
let agentClient: { cert: string; key: string };

test("validate agent: a good installation passes (targets by config names)", async () => {
  await ensureNamespace(hub, "agent-a");
  agentClient = await issue("agent-a");
  await putSecret(spoke, ANS, { metadata: { name: "argocd-agent-ca" }, type: "Opaque", data: { "ca.crt": b64(ca.cert) } });
  await putSecret(spoke, ANS, tlsSecret("argocd-agent-client-tls", agentClient.cert, agentClient.key));
  await putRedisNetworkPolicy(spoke, ANS, ["argocd-application-controller", "argocd-agent-agent"]);
  await putArgoCdComponent(spoke, ANS, "repo-server");
  await putArgoCdComponent(spoke, ANS, "redis");
  await putArgoCdComponent(spoke, ANS, "application-controller", "argocd-application-controller", "StatefulSet");
  const c = passes(validAgent(), AGENT_CHECKS);
  assert.ok(c.has(`Verifying agent mTLS certificate exists and is not expired (${ANS}/argocd-agent-client-tls)`));
  fails(ctl(["--principal-context", "hub", "validate", "agent"]), 2, /validate agent needs both clusters/);
});

test("validate agent finds a bad CA bundle, a CN without namespace, a foreign or expired client certificate", async () => {
  const CA_BUNDLE = "Verifying agent CA secret";
  const caBundle = (data: Record<string, string>) => () => putSecret(spoke, ANS, { metadata: { name: "argocd-agent-ca" }, type: "Opaque", data });
  await broken(caBundle({ "ca.crt": b64("not a certificate") }), caBundle({ "ca.crt": b64(ca.cert) }),
    () => onlyFailing(validAgent(), { [CA_BUNDLE]: /ca\.crt does not hold valid certificate data/ }));
  await broken(caBundle({ other: b64(ca.cert) }), caBundle({ "ca.crt": b64(ca.cert) }),
    () => onlyFailing(validAgent(), { [CA_BUNDLE]: /missing ca\.crt field/ }));

  const client = (pem: { cert: string; key: string }) => () => putSecret(spoke, ANS, tlsSecret("argocd-agent-client-tls", pem.cert, pem.key));
  await broken(client(await issue("agent-ghost")), client(agentClient),
    () => onlyFailing(validAgent(), { "Verifying namespace on principal matches agent certificate subject": /namespace 'agent-ghost' not found on principal cluster/ }));
  await broken(client(await issue("agent-a", { signer: await createCa("rogue", 30) })), client(agentClient),
    () => onlyFailing(validAgent(), { "Verifying agent mTLS certificate is signed by principal CA certificate": /agent certificate not signed by principal CA/ }));
  await broken(client(await issue("agent-a", { notBefore: new Date(Date.now() - 10 * DAY_MS), days: 1 })), client(agentClient),
    () => onlyFailing(validAgent(), { "Verifying agent mTLS certificate exists and is not expired": /agent certificate expired at/ }));
  passes(validAgent(), AGENT_CHECKS);
});

test("validate agent finds a redis NetworkPolicy without the agent and an API server on the workload cluster", async () => {
  await broken(() => putRedisNetworkPolicy(spoke, ANS, ["argocd-application-controller"]), () => putRedisNetworkPolicy(spoke, ANS, ["argocd-application-controller", "argocd-agent-agent"]),
    () => onlyFailing(validAgent(), { "Verifying Argo CD network policy allows for ingress from agent": /does not allow traffic from argocd-agent-agent/ }));
  await broken(() => putArgoCdComponent(spoke, ANS, "server"), () => deleteDeployment(spoke, ANS, "argocd-server"),
    () => onlyFailing(validAgent(), { "Verifying deployed Argo CD components on agent": /invalid components were found: server \(argocd-server\)/ }));
  // `validate agent` runs the principal checks first: a principal-side failure shows there too.
  const rp = await secret("argocd-agent-resource-proxy-tls");
  await broken(() => deleteSecret(hub, NS, "argocd-agent-resource-proxy-tls"), () => putSecret(hub, NS, { metadata: { name: rp.metadata!.name }, type: rp.type, data: rp.data }),
    () => onlyFailing(validAgent(), { "Verifying resource proxy TLS certificate": /could not read TLS secret/ }));
});
