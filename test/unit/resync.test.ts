// Resync checksums and payloads (wire-protocol.md §8). Expected digests were
// computed outside this code from the spec's definition (python3 hashlib over
// hand-written strings), so they pin the exact bytes Go hashes.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checksumFromJson,
  checksumToJson,
  checksumsEqual,
  decodeRequestResourceResync,
  decodeRequestSyncedResourceList,
  decodeRequestUpdate,
  decodeSyncedResource,
  encodeRequestResourceResync,
  encodeRequestSyncedResourceList,
  encodeRequestUpdate,
  encodeSyncedResource,
  resourceKeyOf,
  resourceSetChecksum,
  specChecksum,
} from "../../src/events/resync.ts";

const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString("hex"));

test("set checksum: sorted Kind/Name/UID strings, concatenated, SHA-256", () => {
  // sha256("AppProject/default/uid-2Application/guestbook/uid-1Repository/repo-1/uid-3")
  const sum = resourceSetChecksum([
    { kind: "Application", name: "guestbook", namespace: "agent-a", uid: "uid-1" },
    { kind: "Repository", name: "repo-1", namespace: "argocd", uid: "uid-3" },
    { kind: "AppProject", name: "default", namespace: "argocd", uid: "uid-2" },
  ]);
  assert.equal(hex(sum), "7a492b14918cfd4b1f40cef4fcf370b6c0bbfca253d2e49621e77f71fed120df");
  assert.equal(checksumToJson(sum), "ekkrFJGM/UsfQM70/PNwtsC7/KJT0uSWIed/cf7RIN8=");
});

test("set checksum ignores the namespace", () => {
  const key = { kind: "Application", name: "guestbook", uid: "1b6e4c4e-2f9a-4f60-9d3a-7c1d2a7e5e11" };
  const onAgent = resourceSetChecksum([{ ...key, namespace: "argocd" }]);
  const onPrincipal = resourceSetChecksum([{ ...key, namespace: "agent-a" }]);
  assert.equal(hex(onAgent), "7b6560527d836e117d50835960c79395c252c1a9271a4a176154e7ae7dce2e19");
  assert.ok(checksumsEqual(onAgent, onPrincipal));
});

test("set checksum sorts by UTF-8 bytes, not UTF-16 code units", () => {
  // U+FF5E (EF BD 9E) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it in UTF-16.
  const sum = resourceSetChecksum([
    { kind: "Application", name: "\u{1F600}", namespace: "", uid: "u" },
    { kind: "Application", name: "\uff5e", namespace: "", uid: "u" },
  ]);
  assert.equal(hex(sum), "46d1c757da83872252c59ff92b49557b911e434d9a4df83be2321f5824f23864");
});

test("empty set gives null, and null, empty and missing checksums are equal", () => {
  assert.equal(resourceSetChecksum([]), null);
  assert.deepEqual(encodeRequestSyncedResourceList({ checksum: null }), { checksum: null });
  assert.ok(checksumsEqual(null, new Uint8Array(0)));
  assert.ok(checksumsEqual(undefined, null));
  const fromEmptyString = checksumFromJson("");
  assert.ok(fromEmptyString.ok && checksumsEqual(fromEmptyString.value, null));
  assert.ok(!checksumsEqual(resourceSetChecksum([{ kind: "A", name: "b", namespace: "", uid: "c" }]), null));
});

test("resource key uses the source-uid annotation when present", () => {
  const meta = { name: "app", namespace: "agent-a", uid: "local-uid" };
  assert.equal(resourceKeyOf("Application", { metadata: meta }).uid, "local-uid");
  const annotated = { metadata: { ...meta, annotations: { "argocd.argoproj.io/source-uid": "source-uid" } } };
  assert.deepEqual(resourceKeyOf("Application", annotated), { kind: "Application", name: "app", namespace: "agent-a", uid: "source-uid" });
});

test("spec checksum: sorted keys, Go escaping and numbers, destination removed", () => {
  const app = {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Application",
    metadata: { name: "guestbook", resourceVersion: "42" },
    spec: {
      syncPolicy: { automated: { selfHeal: false, prune: true } },
      source: {
        targetRevision: "HEAD",
        repoURL: "https://github.com/argoproj/argocd-example-apps",
        path: "guestbook",
        helm: { valuesObject: { "é": "<b>&amp;\u2028\n\u0001\x7f", z: 1, a: [true, null, 0.5, 1e-7, 1e21, 12345678901] } },
      },
      destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" },
      project: "default",
    },
    status: { sync: { status: "Synced" } },
  };
  // sha256 of:
  // {"project":"default","source":{"helm":{"valuesObject":{"a":[true,null,0.5,1e-7,1e+21,12345678901],"z":1,
  //  "é":"\u003cb\u003e\u0026amp;\u2028\n\u0001<DEL>"}},"path":"guestbook","repoURL":"https://github.com/argoproj/argocd-example-apps",
  //  "targetRevision":"HEAD"},"syncPolicy":{"automated":{"prune":true,"selfHeal":false}}}
  const sum = specChecksum(app);
  assert.ok(sum.ok);
  assert.equal(hex(sum.value), "f82f206a55734c2b5c9c8e2e1171d92a58e83277e393fd3fecf23e3efdb20e71");
  assert.equal(checksumToJson(sum.value), "+C8galVzTCtcnI4uEXHZKljoMnfjk/0/7PI+Pv2yDnE=");
  // Status, metadata and destination do not count.
  const moved = { ...app, metadata: { name: "guestbook", resourceVersion: "43" }, spec: { ...app.spec, destination: { name: "in-cluster" } } };
  const movedSum = specChecksum(moved);
  assert.ok(movedSum.ok && checksumsEqual(movedSum.value, sum.value));
});

test("spec checksum of ConfigMap and Secret uses data", () => {
  const cm = specChecksum({ kind: "ConfigMap", data: { "b.key": "x", "a.key": "y" }, spec: { ignored: true } });
  assert.ok(cm.ok);
  assert.equal(hex(cm.value), "98411e996481b3993336a48b74335294502c1798d6df96690a9cd96f164c2ff6");
  const emptyCm = specChecksum({ kind: "ConfigMap", metadata: { name: "gpg" } });
  assert.ok(emptyCm.ok);
  assert.equal(hex(emptyCm.value), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"); // sha256("{}")
  const secret = specChecksum({ data: { "b.key": "x", "a.key": "y" } }, "Secret");
  assert.ok(secret.ok && checksumsEqual(secret.value, cm.value));
});

test("spec checksum errors instead of throwing", () => {
  assert.equal(specChecksum({ kind: "Secret" }).ok, false);
  assert.equal(specChecksum({ kind: "Application" }).ok, false);
  assert.equal(specChecksum({ kind: "Application", spec: "not-a-map" }).ok, false);
  assert.equal(specChecksum({ kind: "Application", spec: [1, 2] }).ok, false);
  assert.equal(specChecksum({ kind: "ConfigMap", data: null }).ok, false);
  assert.equal(specChecksum({ kind: "Application", spec: { x: Number.NaN } }).ok, false);
  const cyclic: Record<string, unknown> = {};
  cyclic["self"] = cyclic;
  assert.equal(specChecksum({ kind: "Application", spec: cyclic }).ok, false);
});

test("payload encoders follow Go's JSON keys and omitempty", () => {
  const sum = new Uint8Array([1, 2, 3]);
  assert.deepEqual(encodeSyncedResource({ name: "app", namespace: "", uid: "u", kind: "Application" }), { name: "app", uid: "u", kind: "Application" });
  assert.equal(
    JSON.stringify(encodeRequestUpdate({ name: "app", namespace: "ns", uid: "u", kind: "Application", checksum: sum })),
    '{"name":"app","namespace":"ns","uid":"u","kind":"Application","checksum":"AQID"}',
  );
  assert.equal(
    JSON.stringify(encodeRequestUpdate({ name: "gone", namespace: "", uid: "", kind: "AppProject", checksum: null })),
    '{"name":"gone","uid":"","kind":"AppProject","checksum":null}',
  );
  assert.equal(JSON.stringify(encodeRequestSyncedResourceList({ checksum: sum })), '{"checksum":"AQID"}');
  assert.equal(JSON.stringify(encodeRequestResourceResync()), "{}");
});

test("payload decoders accept what Go sends and reject wrong types", () => {
  const upd = decodeRequestUpdate({ name: "app", uid: "u", kind: "Application", checksum: "AQID" });
  assert.ok(upd.ok);
  assert.deepEqual(upd.value, { name: "app", namespace: "", uid: "u", kind: "Application", checksum: new Uint8Array([1, 2, 3]) });
  const list = decodeRequestSyncedResourceList({ checksum: null });
  assert.ok(list.ok && list.value.checksum?.byteLength === 0);
  const synced = decodeSyncedResource({ name: "p", namespace: "argocd", uid: "u", kind: "AppProject" });
  assert.ok(synced.ok && synced.value.namespace === "argocd");
  assert.ok(decodeRequestResourceResync({}).ok);
  assert.ok(decodeRequestResourceResync(undefined).ok);

  assert.equal(decodeRequestUpdate({ name: 5 }).ok, false);
  assert.equal(decodeRequestUpdate({ name: "a", checksum: "not base64!" }).ok, false);
  assert.equal(decodeRequestUpdate({ name: "a", checksum: [1, 2] }).ok, false);
  assert.equal(decodeRequestSyncedResourceList("text").ok, false);
  assert.equal(decodeSyncedResource([1]).ok, false);
});
