// Repository secrets and the GPG ConfigMap (operations.md §3): which secrets
// count, which managed agents a repository reaches (the AppProject rules),
// how recipients move, the resync checksums over .data, and payload checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ResyncKinds } from "../../src/events/event-types.ts";
import type { AppProject, ConfigMap, Secret } from "../../src/kube/resources.ts";
import { repoRecipients } from "../../src/replication/principal/principal-repositories.ts";
import {
  dataChecksum, dataObjectFromPayload, gpgKeysWatch, isRepoSecret, recipientChanges, repoProjectOf, repoSecretSelector, SECRET_TYPE_LABEL,
} from "../../src/replication/secret-objects.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const sha256 = (s: string) => new Uint8Array(createHash("sha256").update(s, "utf8").digest());

const repo = (type: string | undefined, data?: Record<string, string>): Secret => ({
  metadata: { name: "repo-1", namespace: "argocd", uid: "u1", labels: type === undefined ? {} : { [SECRET_TYPE_LABEL]: type } },
  data,
});

const project = (spec: Record<string, unknown>, annotations?: Record<string, string>): AppProject => ({
  metadata: { name: "team", namespace: "argocd", uid: "p1", ...(annotations ? { annotations } : {}) },
  spec,
});

test("only project-scoped repository and repo-creds secrets are replicated", () => {
  const data = { url: b64("https://git.example/repo.git"), project: b64("team") };
  assert.equal(isRepoSecret(repo("repository", data)), true);
  assert.equal(isRepoSecret(repo("repo-creds", data)), true);
  assert.equal(isRepoSecret(repo("repository-write", data)), false, "write credentials stay on the hub");
  assert.equal(isRepoSecret(repo("repo-write-creds", data)), false);
  assert.equal(isRepoSecret(repo("cluster", data)), false);
  assert.equal(isRepoSecret(repo(undefined, data)), false);
  assert.equal(isRepoSecret(repo("repository", { url: data.url })), false, "not project scoped");
  assert.equal(isRepoSecret(repo("repository", { url: data.url, project: "" })), false, "empty project");
  assert.equal(isRepoSecret(repo("repository")), false, "no data");
  assert.equal(repoProjectOf(repo("repository", data)), "team");
});

test("selectors: both secret types, skip-sync excluded, the user's selector ANDed; the GPG ConfigMap by name", () => {
  assert.equal(repoSecretSelector(""), "argocd.argoproj.io/secret-type in (repository,repo-creds),argocd-agent.argoproj-labs.io/ignore-sync!=true");
  assert.equal(repoSecretSelector("env=prod"), "argocd.argoproj.io/secret-type in (repository,repo-creds),argocd-agent.argoproj-labs.io/ignore-sync!=true,env=prod");
  assert.deepEqual(gpgKeysWatch("env=prod"), { labelSelector: "argocd-agent.argoproj-labs.io/ignore-sync!=true,env=prod", fieldSelector: "metadata.name=argocd-gpg-keys-cm" });
});

test("a repository reaches exactly the managed agents its project matches", () => {
  const agents = ["agent-a", "agent-b", "edge-1"];
  const byName = project({ sourceNamespaces: ["agent-*"], destinations: [{ name: "agent-a", namespace: "*" }] });
  assert.deepEqual([...repoRecipients(byName, agents, false)], ["agent-a"]);
  const glob = project({ sourceNamespaces: ["*"], destinations: [{ name: "agent-*", namespace: "*" }] });
  assert.deepEqual([...repoRecipients(glob, agents, false)], ["agent-a", "agent-b"]);
  const deny = project({ sourceNamespaces: ["*"], destinations: [{ name: "!agent-b", namespace: "*" }, { name: "*", namespace: "*" }] });
  assert.deepEqual([...repoRecipients(deny, agents, false)], ["agent-a", "edge-1"], "a deny glob withholds it");
  const byUrl = project({ sourceNamespaces: ["*"], destinations: [{ server: "https://rp:9090?agentName=edge-*", namespace: "*" }] });
  assert.deepEqual([...repoRecipients(byUrl, agents, false)], ["edge-1"]);
  // Namespace-based mapping also needs sourceNamespaces; destination-based does not.
  const noSources = project({ destinations: [{ name: "agent-a", namespace: "*" }] });
  assert.deepEqual([...repoRecipients(noSources, agents, false)], []);
  assert.deepEqual([...repoRecipients(noSources, agents, true)], ["agent-a"]);
});

test("no recipients without a project, or for an autonomous agent's mirrored project", () => {
  assert.equal(repoRecipients(undefined, ["agent-a"], false).size, 0);
  const mirror = project({ sourceNamespaces: ["agent-a"], destinations: [{ name: "agent-a", server: "*", namespace: "*" }] }, { "argocd.argoproj.io/source-uid": "x" });
  assert.equal(repoRecipients(mirror, ["agent-a"], false).size, 0);
  const any = project({ sourceNamespaces: ["*"], destinations: [{ server: "*", namespace: "*" }] });
  assert.equal(repoRecipients(any, [], false).size, 0, "no managed agent known");
});

test("recipient changes: lost agents get delete, kept ones an update, new ones the object", () => {
  assert.deepEqual(recipientChanges(new Set(["a", "b"]), new Set(["b", "c"])), { remove: ["a"], keep: ["b"], add: ["c"] });
  assert.deepEqual(recipientChanges(new Set(), new Set(["a"])), { remove: [], keep: [], add: ["a"] });
  assert.deepEqual(recipientChanges(new Set(["a"]), new Set()), { remove: ["a"], keep: [], add: [] }, "project deleted: every holder loses it");
});

test("resync checksums: SHA-256 of Go JSON of .data (base64 values for Secrets, {} for a ConfigMap without data)", () => {
  const data = { url: b64("https://git.example/r.git"), project: b64("team"), type: b64("git") };
  const expected = sha256(`{"project":"${data.project}","type":"${data.type}","url":"${data.url}"}`);
  assert.deepEqual(dataChecksum(ResyncKinds.repository, repo("repository", data)), expected);
  const cm = (d?: Record<string, string>): ConfigMap => ({ metadata: { name: "argocd-gpg-keys-cm", namespace: "argocd" }, ...(d ? { data: d } : {}) });
  assert.deepEqual(dataChecksum(ResyncKinds.gpgKey, cm()), sha256("{}"));
  assert.deepEqual(dataChecksum(ResyncKinds.gpgKey, cm({ B: "<key>", A: "x&y" })), sha256('{"A":"x\\u0026y","B":"\\u003ckey\\u003e"}'), "Go's HTML escaping");
  assert.equal(dataChecksum(ResyncKinds.repository, repo("repository")), null, "a Secret without data has no checksum");
  // Labels and annotations do not count, only data.
  const labelled = { ...repo("repository", data), metadata: { ...repo("repository", data).metadata, labels: { x: "y" } } };
  assert.deepEqual(dataChecksum(ResyncKinds.repository, labelled), expected);
});

test("payloads: data must be a string map, base64 for Secrets; a Secret create needs data", () => {
  const md = { name: "repo-1", namespace: "argocd", uid: "u1" };
  assert.equal(dataObjectFromPayload({ metadata: md, data: { url: b64("x") } }, "Secret", true).ok, true);
  const bad = [
    [{ metadata: md, data: { url: "not base64!" } }, "Secret", "data.url is not base64"],
    [{ metadata: md, data: { url: 5 } }, "Secret", "data.url is not a string"],
    [{ metadata: md, data: ["x"] }, "ConfigMap", "data is not a map"],
    [{ metadata: md }, "Secret", "Secret carries no data"],
    [{ metadata: { ...md, name: "../x" }, data: {} }, "Secret", 'invalid metadata.name "../x"'],
  ] as const;
  for (const [payload, kind, error] of bad) {
    const r = dataObjectFromPayload(payload as never, kind, true);
    assert.deepEqual(r, { ok: false, error });
  }
  assert.equal(dataObjectFromPayload({ metadata: md }, "ConfigMap", true).ok, true, "a ConfigMap may have no data");
  assert.equal(dataObjectFromPayload({ metadata: md }, "Secret", false).ok, true, "a delete needs no data");
});
