// The redis proxy's key routing, the agent's key rewrite, the bytes it writes
// itself and the ClusterInfo JSON, as specifications (live-resources.md §3.3, §3.4, §3.6).
import { test } from "node:test";
import assert from "node:assert/strict";
import { agentLocalKey, routeKey } from "../../src/redisproxy/keys.ts";
import { CACHE_MISS, encodeCommand, errorReply, getHit, pushMessage, subscribeAck } from "../../src/redisproxy/replies.ts";
import { clusterInfoJson, clusterInfoKey, goTime } from "../../src/redisproxy/cluster-info.ts";

const ns = { principalNamespace: "argocd" };

test("namespace mapping: app keys with <agent>_<app> go to the agent, everything else to the hub", () => {
  assert.deepEqual(routeKey("app|managed-resources|agent-a_guestbook|1.8.3", ns), { agent: "agent-a" });
  assert.deepEqual(routeKey("app|resources-tree|agent-a_guestbook|1.8.3.gz", ns), { agent: "agent-a" });
  assert.deepEqual(routeKey("app|resources-tree|agent-a_my_app|1.8.3.gz", ns), { agent: "agent-a" }, "split at the first _");
  for (const k of ["app|resources-tree|guestbook|1.8.3.gz", "mfst|x|agent-a_g|r|1.8.3.gz", "cluster|info|https://x|1.8.3.gz", "git-refs|r", "gitdirs|r", "gitfiles|r", "new-revoked-token", "foo"]) {
    assert.deepEqual(routeKey(k, ns), {}, k);
  }
});

test("sharded resource trees (5 fields, numeric shard) route like shard 0; other shapes are errors", () => {
  assert.deepEqual(routeKey("app|resources-tree|agent-a_guestbook|3|1.8.3.gz", ns), { agent: "agent-a" });
  assert.match(routeKey("app|managed-resources|agent-a_g|3|1.8.3", ns).error ?? "", /unexpected number of fields/);
  assert.match(routeKey("app|resources-tree|agent-a_g|x|1.8.3", ns).error ?? "", /unexpected number of fields/);
  assert.match(routeKey("app|resources-tree|agent-a_g", ns).error ?? "", /unexpected number of fields/);
});

test("destination mapping: the lookup names the agent; no _ means the principal's namespace", () => {
  const seen: string[] = [];
  const agentForApp = (n: string, a: string) => (seen.push(`${n}/${a}`), a === "guestbook" ? "edge-1" : undefined);
  assert.deepEqual(routeKey("app|resources-tree|guestbook|1.8.3.gz", { ...ns, agentForApp }), { agent: "edge-1" });
  assert.deepEqual(routeKey("app|resources-tree|team_guestbook|1.8.3.gz", { ...ns, agentForApp }), { agent: "edge-1" });
  assert.deepEqual(routeKey("app|resources-tree|other|1.8.3.gz", { ...ns, agentForApp }), {});
  assert.deepEqual(seen, ["argocd/guestbook", "team/guestbook", "argocd/other"]);
});

test("the agent drops <ns>_ from app keys, keeps git keys, refuses anything else", () => {
  assert.equal(agentLocalKey("app|resources-tree|agent-a_guestbook|1.8.3.gz"), "app|resources-tree|guestbook|1.8.3.gz");
  assert.equal(agentLocalKey("app|managed-resources|agent-a_my_app|1.8.3"), "app|managed-resources|my_app|1.8.3");
  assert.equal(agentLocalKey("app|resources-tree|agent-a_guestbook|2|1.8.3.gz"), "app|resources-tree|guestbook|2|1.8.3.gz");
  assert.equal(agentLocalKey("git-refs|https://repo"), "git-refs|https://repo");
  assert.match((agentLocalKey("cluster|info|x|1.8.3") as { error: string }).error, /unexpected redis key/);
  assert.match((agentLocalKey("app|resources-tree|guestbook|1.8.3.gz") as { error: string }).error, /missing '_'/);
});

test("reply bytes are upstream's", () => {
  assert.equal(getHit(Buffer.from("v\r\nx")).toString(), "$4\r\nv\r\nx\r\n");
  assert.equal(CACHE_MISS.toString(), "-\r\n");
  assert.equal(subscribeAck("app|managed-resources|a_g|1.8.3").toString(), ">3\r\n$9\r\nsubscribe\r\n$31\r\napp|managed-resources|a_g|1.8.3\r\n:1\r\n");
  assert.equal(pushMessage("ch€").toString(), ">3\r\n$7\r\nmessage\r\n$5\r\nch€\r\n$0\r\n\r\n", "lengths in bytes");
  assert.equal(errorReply("a\r\nb").toString(), "-ERR a b\r\n");
  assert.equal(encodeCommand([Buffer.from("get"), Buffer.from("k")]).toString(), "*2\r\n$3\r\nget\r\n$1\r\nk\r\n");
});

test("ClusterInfo JSON has Go's field order and omitempty rules", () => {
  assert.equal(clusterInfoKey("https://rp:9090?agentName=a", true), "cluster|info|https://rp:9090?agentName=a|1.8.3.gz");
  assert.equal(goTime(new Date("2026-01-02T03:04:05.678Z")), "2026-01-02T03:04:05Z");
  assert.equal(
    clusterInfoJson({ connectionState: { status: "Successful", message: "m", attemptedAt: "2026-01-02T03:04:05Z" } }),
    '{"connectionState":{"status":"Successful","message":"m","attemptedAt":"2026-01-02T03:04:05Z"},"cacheInfo":{},"applicationsCount":0}',
  );
  assert.equal(
    clusterInfoJson({ applicationsCount: 3, cacheInfo: { apisCount: 5, resourcesCount: 7 } }),
    '{"connectionState":{"status":"","message":"","attemptedAt":null},"cacheInfo":{"resourcesCount":7,"apisCount":5},"applicationsCount":3}',
  );
});
