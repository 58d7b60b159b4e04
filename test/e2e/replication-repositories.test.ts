/**
 * Repository / repo-creds Secrets and the GPG keys ConfigMap, end to end
 * against real API servers (operations.md §3): a principal, two managed
 * agents whose AppProjects differ and one autonomous agent, in-process.
 * Every test asserts the final state on the clusters; the tests build on each
 * other in order.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { objectEvent } from "../../src/events/cloudevent.ts";
import { Annotations, EventSources, EventTargets, EventTypes } from "../../src/events/event-types.ts";
import { configMaps, secrets } from "../../src/kube/core-objects.ts";
import type { AppProject, Secret } from "../../src/kube/resources.ts";
import { freePort } from "../support/processes.ts";
import { eventually, projects, startHarness, type Harness } from "./replication-harness.ts";

const A = "agent-a";
const B = "agent-b";
const AUTO = "agent-auto";
const NS = "argocd";
const GPG = "argocd-gpg-keys-cm";
const SOURCE_UID = Annotations.sourceUid;
const SKIP = "argocd-agent.argoproj-labs.io/ignore-sync";

let h: Harness;
let metricsPort: number;

const b64 = (s: string) => Buffer.from(s).toString("base64");
const text = (v: string | undefined) => (v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8"));

function repoSecret(name: string, project: string | undefined, opts: { type?: string; url?: string; labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Secret {
  return {
    metadata: { name, namespace: NS, labels: { "argocd.argoproj.io/secret-type": opts.type ?? "repository", ...opts.labels }, ...(opts.annotations ? { annotations: opts.annotations } : {}) },
    type: "Opaque",
    data: { url: b64(opts.url ?? `https://git.example/${name}.git`), ...(project !== undefined ? { project: b64(project) } : {}) },
  };
}

function project(name: string, agentGlob: string): AppProject {
  return { metadata: { name, namespace: NS }, spec: { sourceRepos: ["*"], sourceNamespaces: ["*"], destinations: [{ name: agentGlob, namespace: "*" }] } };
}

const sec = (cluster: string) => secrets(h.kube(cluster));
const cms = (cluster: string) => configMaps(h.kube(cluster));
const CP = "control-plane";
const on = (cluster: string, name: string) => sec(cluster).get(NS, name);
const urlOn = async (cluster: string, name: string) => text((await on(cluster, name))?.data?.["url"]);

async function metric(name: string): Promise<number> {
  const body = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
  const line = body.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : NaN;
}

/** Absent now and still absent a moment later (events for other objects are not ordered with it). */
async function staysAbsent(cluster: string, name: string, what: string): Promise<void> {
  await sleep(1500);
  assert.equal(await on(cluster, name), undefined, what);
}

before(async () => {
  h = await startHarness({
    agents: { [A]: { cluster: A, mode: "managed" }, [B]: { cluster: B, mode: "managed" }, [AUTO]: { cluster: AUTO, mode: "autonomous" } },
  });
  metricsPort = await freePort();
  await h.startPrincipal({ metricsPort: String(metricsPort) });
  await h.startAgent(A);
  await h.startAgent(B);
  await h.startAgent(AUTO);
  await projects(h.cp).create(project("proj-a", A));
  await projects(h.cp).create(project("proj-b", B));
  await projects(h.cp).create(project("proj-all", "agent-*"));
}, { timeout: 180_000 });

after(async () => {
  await h?.stop();
});

test("repository and repo-creds secrets reach exactly the managed agents whose project allows them", { timeout: 90_000 }, async () => {
  const created = await sec(CP).create(repoSecret("repo-a", "proj-a", { annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}", note: "kept" } }));
  await sec(CP).create(repoSecret("repo-b", "proj-b"));
  await sec(CP).create(repoSecret("creds-all", "proj-all", { type: "repo-creds", url: "https://git.example/" }));
  await sec(CP).create(repoSecret("repo-nowhere", "no-such-project"));
  await sec(CP).create(repoSecret("repo-write", "proj-all", { type: "repository-write" }));
  await sec(CP).create(repoSecret("repo-global", undefined));

  const copy = await eventually("repo-a on agent-a", () => on(A, "repo-a"));
  assert.equal(copy.metadata.annotations?.[SOURCE_UID], created.metadata.uid, "stamped with the principal's UID");
  assert.equal(copy.metadata.annotations?.["note"], "kept");
  assert.equal(copy.metadata.annotations?.["kubectl.kubernetes.io/last-applied-configuration"], undefined, "last-applied dropped");
  assert.equal(copy.metadata.labels?.["argocd.argoproj.io/secret-type"], "repository");
  assert.deepEqual(copy.data, created.data);
  assert.equal(copy.type, "Opaque");
  await eventually("repo-b on agent-b", () => on(B, "repo-b"));
  await eventually("creds-all on agent-a", () => on(A, "creds-all"));
  const creds = await eventually("creds-all on agent-b", () => on(B, "creds-all"));
  assert.equal(creds.metadata.labels?.["argocd.argoproj.io/secret-type"], "repo-creds");

  await staysAbsent(A, "repo-b", "agent-a's project does not allow repo-b");
  assert.equal(await on(B, "repo-a"), undefined, "agent-b's project does not allow repo-a");
  for (const cluster of [A, B]) {
    assert.equal(await on(cluster, "repo-nowhere"), undefined, "missing project: sent nowhere");
    assert.equal(await on(cluster, "repo-write"), undefined, "write credentials are not replicated");
    assert.equal(await on(cluster, "repo-global"), undefined, "unscoped secrets are not replicated");
  }
  for (const name of ["repo-a", "repo-b", "creds-all"]) assert.equal(await on(AUTO, name), undefined, "the autonomous agent receives none");
  assert.ok((await metric("principal_repositories_created")) >= 4, "principal_repositories_created counts the watch's adds");
});

test("updates and deletions on the principal reach the agents", { timeout: 60_000 }, async () => {
  const cur = (await on(CP, "repo-a"))!;
  await sec(CP).update({ ...cur, data: { ...cur.data, url: b64("https://git.example/moved.git"), username: b64("bot") } });
  await eventually("update on agent-a", async () => (await urlOn(A, "repo-a")) === "https://git.example/moved.git");
  assert.equal(text((await on(A, "repo-a"))?.data?.["username"]), "bot");
  await sec(CP).delete(NS, "repo-b");
  await eventually("repo-b deleted on agent-b", async () => !(await on(B, "repo-b")));
  assert.ok((await metric("principal_repositories_updated")) >= 1);
  assert.ok((await metric("principal_repositories_deleted")) >= 1);
});

test("a project change moves its repositories; a deleted project takes them away", { timeout: 90_000 }, async () => {
  await projects(h.cp).create(project("proj-move", A));
  await sec(CP).create(repoSecret("repo-move", "proj-move"));
  await eventually("repo-move on agent-a", () => on(A, "repo-move"));

  const p = (await projects(h.cp).get(NS, "proj-move"))!;
  await projects(h.cp).update({ ...p, spec: { ...p.spec, destinations: [{ name: B, namespace: "*" }] } });
  await eventually("repo-move on agent-b", () => on(B, "repo-move"));
  await eventually("repo-move gone from agent-a", async () => !(await on(A, "repo-move")));

  // The secret itself names another project.
  const s = (await on(CP, "repo-move"))!;
  await sec(CP).update({ ...s, data: { ...s.data, project: b64("proj-a") } });
  await eventually("repo-move back on agent-a", () => on(A, "repo-move"));
  await eventually("repo-move gone from agent-b", async () => !(await on(B, "repo-move")));

  await projects(h.cp).delete(NS, "proj-a");
  await eventually("repositories of a deleted project removed", async () => !(await on(A, "repo-move")) && !(await on(A, "repo-a")));
  assert.ok(await on(A, "creds-all"), "other projects' secrets stay");
  await projects(h.cp).create(project("proj-a", A));
  await eventually("project back: its repositories return", async () => (await on(A, "repo-move")) && (await on(A, "repo-a")));
});

test("a local secret the agent did not create is never taken over", { timeout: 60_000 }, async () => {
  await sec(A).create({ ...repoSecret("repo-local", "proj-a", { url: "https://local.example/x.git" }) });
  await sec(CP).create(repoSecret("repo-local", "proj-a"));
  await sec(CP).create(repoSecret("repo-after-local", "proj-a"));
  await eventually("a later secret still arrives", () => on(A, "repo-after-local"));
  await sleep(1000);
  const local = (await on(A, "repo-local"))!;
  assert.equal(local.metadata.annotations?.[SOURCE_UID], undefined);
  assert.equal(text(local.data?.["url"]), "https://local.example/x.git");
});

test("the GPG keys ConfigMap reaches every managed agent; an unstamped local one is replaced (mismatch policy)", { timeout: 60_000 }, async () => {
  await cms(B).create({ metadata: { name: GPG, namespace: NS }, data: { OLDKEY: "local" } });
  const created = await cms(CP).create({ metadata: { name: GPG, namespace: NS }, data: { "4AEE18F83AFDEB23": "-----BEGIN PGP PUBLIC KEY BLOCK-----\nA\n", "1234": "<k&y>" } });
  for (const cluster of [A, B]) {
    const c = await eventually(`GPG keys on ${cluster}`, async () => {
      const cm = await cms(cluster).get(NS, GPG);
      return cm?.metadata.annotations?.[SOURCE_UID] === created.metadata.uid ? cm : undefined;
    });
    assert.deepEqual(c.data, created.data);
  }
  assert.equal(await cms(AUTO).get(NS, GPG), undefined, "the autonomous agent receives none");
  await eventually("gpg key count", async () => (await metric("argocd_principal_gpg_keys_count")) === 2);
  const cur = (await cms(CP).get(NS, GPG))!;
  await cms(CP).update({ ...cur, data: { ...cur.data, NEWKEY: "n" } });
  for (const cluster of [A, B]) await eventually(`GPG update on ${cluster}`, async () => (await cms(cluster).get(NS, GPG))?.data?.["NEWKEY"] === "n");
});

test("local edits on an agent are reverted, local deletions recreated", { timeout: 60_000 }, async () => {
  const mine = (await on(A, "creds-all"))!;
  await sec(A).update({ ...mine, data: { ...mine.data, url: b64("https://evil.example/") } });
  await eventually("secret data reverted", async () => (await urlOn(A, "creds-all")) === "https://git.example/");
  await sec(A).delete(NS, "creds-all");
  await eventually("secret recreated", async () => {
    const s = await on(A, "creds-all");
    return s && s.metadata.uid !== mine.metadata.uid && s.metadata.annotations?.[SOURCE_UID] === mine.metadata.annotations?.[SOURCE_UID];
  });
  assert.equal(await urlOn(A, "creds-all"), "https://git.example/");

  const gpg = (await cms(B).get(NS, GPG))!;
  await cms(B).update({ ...gpg, data: { hacked: "x" } });
  await eventually("GPG data reverted", async () => (await cms(B).get(NS, GPG))?.data?.["NEWKEY"] === "n");
  await cms(B).delete(NS, GPG);
  await eventually("GPG recreated", async () => {
    const c = await cms(B).get(NS, GPG);
    return c && c.metadata.uid !== gpg.metadata.uid && c.data?.["NEWKEY"] === "n";
  });
});

test("the skip-sync label keeps a secret on the principal; adding it removes the copies", { timeout: 60_000 }, async () => {
  await sec(CP).create(repoSecret("repo-skip", "proj-all", { labels: { [SKIP]: "true" } }));
  const cur = (await on(CP, "creds-all"))!;
  await sec(CP).update({ ...cur, metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, [SKIP]: "true" } } });
  await eventually("creds-all removed from both agents", async () => !(await on(A, "creds-all")) && !(await on(B, "creds-all")));
  await staysAbsent(A, "repo-skip", "skip-sync secret never sent");
  const again = (await on(CP, "creds-all"))!;
  const { [SKIP]: _gone, ...labels } = again.metadata.labels!;
  await sec(CP).update({ ...again, metadata: { ...again.metadata, labels } });
  await eventually("creds-all back once unlabelled", async () => (await on(A, "creds-all")) && (await on(B, "creds-all")));
});

test("changes made while an agent is down arrive after it reconnects", { timeout: 120_000 }, async () => {
  await sec(CP).create(repoSecret("repo-doomed", "proj-a"));
  await eventually("repo-doomed on agent-a", () => on(A, "repo-doomed"));
  await h.stopAgent(A);
  const cur = (await on(CP, "creds-all"))!;
  await sec(CP).update({ ...cur, data: { ...cur.data, url: b64("https://git.example/while-agent-down/") } });
  await sec(CP).delete(NS, "repo-doomed");
  await sec(CP).create(repoSecret("repo-born", "proj-all"));
  const gpg = (await cms(CP).get(NS, GPG))!;
  await cms(CP).update({ ...gpg, data: { ...gpg.data, DOWNKEY: "d" } });
  await sec(A).delete(NS, "repo-after-local"); // unauthorised, while nobody watches
  await h.startAgent(A);
  await eventually("update applied", async () => (await urlOn(A, "creds-all")) === "https://git.example/while-agent-down/");
  await eventually("deletion applied", async () => !(await on(A, "repo-doomed")));
  await eventually("creation applied", () => on(A, "repo-born"));
  await eventually("GPG update applied", async () => (await cms(A).get(NS, GPG))?.data?.["DOWNKEY"] === "d");
  await eventually("unauthorised deletion repaired", () => on(A, "repo-after-local"));
});

test("changes made while the principal is down arrive after it restarts (resync deletes what is gone)", { timeout: 120_000 }, async () => {
  await h.stopPrincipal();
  const cur = (await on(CP, "repo-born"))!;
  await sec(CP).update({ ...cur, data: { ...cur.data, url: b64("https://git.example/while-principal-down.git") } });
  await sec(CP).delete(NS, "repo-move"); // the new principal never sees it: only resync can remove the copy
  await cms(CP).delete(NS, GPG);
  await sec(CP).create(repoSecret("repo-late", "proj-b"));
  await h.startPrincipal({ metricsPort: String(metricsPort) });
  for (const cluster of [A, B]) {
    await eventually(`update on ${cluster}`, async () => (await urlOn(cluster, "repo-born")) === "https://git.example/while-principal-down.git", 30_000);
    await eventually(`GPG deleted on ${cluster}`, async () => !(await cms(cluster).get(NS, GPG)), 30_000);
  }
  await eventually("deleted repository removed by resync", async () => !(await on(A, "repo-move")), 30_000);
  await eventually("creation applied", () => on(B, "repo-late"), 30_000);
  assert.ok(await on(A, "creds-all") && (await on(B, "creds-all")), "unchanged secrets stay");
  assert.equal(await metric("argocd_principal_gpg_keys_count"), 0);
});

test("repository events from agents are refused; an autonomous agent discards them", { timeout: 60_000 }, async () => {
  const w = h.agent(A)!.connection.writer;
  w.add(objectEvent(EventTypes.create, EventTargets.repository, repoSecret("from-agent", "proj-all") as never, EventSources.agent));
  w.add(objectEvent(EventTypes.create, EventTargets.gpgKey, { metadata: { name: GPG, namespace: NS, uid: "x" }, data: {} } as never, EventSources.agent));
  await eventually("refusals counted", async () => {
    const body = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    return ["repository", "gpgkey"].every((t) => body.split("\n").some((l) => l.startsWith("principal_event_processing_time_count") && l.includes('status="not-allowed"') && l.includes(`resource_type="${t}"`) && !l.endsWith(" 0")));
  });
  assert.equal(await on(CP, "from-agent"), undefined);

  const auto = h.agent(AUTO)!.replication!;
  const payload = { ...repoSecret("pushed", "proj-all"), metadata: { ...repoSecret("pushed", "proj-all").metadata, uid: "u-1", resourceVersion: "1" } };
  const out = await auto.handler(objectEvent(EventTypes.create, EventTargets.repository, payload as never, EventSources.principal), payload as never);
  assert.deepEqual(out, { rejected: true });
  assert.equal(await on(AUTO, "pushed"), undefined);
  // The managed agents still replicate afterwards.
  await sec(CP).create(repoSecret("repo-final", "proj-all"));
  await eventually("still replicating", async () => (await on(A, "repo-final")) && (await on(B, "repo-final")));
});
