// `ctl ha status -o text|json|yaml` for a status with every field set (a
// running principal at rest leaves most of them zero; the integration test
// covers that): text rows and their conditions, Go-JSON and yaml.v3 shapes,
// 64-bit numbers kept exact.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import type { HAStatusResponse } from "../../src/proto/gen/haadmin.ts";
import { renderHaStatus } from "../../src/ctl/ha-status-output.ts";

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const full: HAStatusResponse = {
  state: "replicating", preferredRole: "replica", peerAddress: "principal.region-a.example.com:443", peerReachable: true,
  peerState: "", connectedReplicas: 0, lastEventTimestamp: String(NOW / 1000 - 42), lastSequenceNum: "18446744073709551615", connectedAgents: 3,
};

test("text: peer address, Replicating on a non-active principal, Last Event as seconds ago, Last Sequence", () => {
  assert.equal(renderHaStatus(full, "text", NOW), [
    "HA Status",
    "---------",
    "State:             replicating",
    "Preferred Role:    replica",
    "Peer Address:      principal.region-a.example.com:443",
    "Replicating:       true",
    "Connected Agents:  3",
    "Last Event:        42s ago",
    "Last Sequence:     18446744073709551615",
  ].join("\n"));
});

test("text: an active principal shows Connected Replicas; zero last event/sequence and empty peer are left out", () => {
  const active = { ...full, state: "active", preferredRole: "primary", peerAddress: "", connectedReplicas: 2, lastEventTimestamp: "0", lastSequenceNum: "0" };
  assert.equal(renderHaStatus(active, "text", NOW), [
    "HA Status", "---------", "State:             active", "Preferred Role:    primary", "Connected Replicas: 2", "Connected Agents:  3",
  ].join("\n"));
});

test("json: snake_case, zero values omitted, uint64 exact as a JSON number, Go's HTML escaping", () => {
  const out = renderHaStatus({ ...full, peerAddress: "a<b>&c:1" }, "json", NOW);
  assert.equal(out, [
    "{",
    '  "state": "replicating",',
    '  "preferred_role": "replica",',
    '  "peer_address": "a\\u003cb\\u003e\\u0026c:1",',
    '  "peer_reachable": true,',
    `  "last_event_timestamp": ${NOW / 1000 - 42},`,
    '  "last_sequence_num": 18446744073709551615,',
    '  "connected_agents": 3',
    "}",
  ].join("\n"));
  assert.equal(renderHaStatus({ ...full, state: "", preferredRole: "", peerAddress: "", peerReachable: false, lastEventTimestamp: "0", lastSequenceNum: "0", connectedAgents: 0 }, "json", NOW), "{}");
});

test("yaml: every field, lower-cased Go names, in field order", () => {
  const out = renderHaStatus(full, "yaml", NOW);
  assert.deepEqual(Object.keys(parseYaml(out) as object), [
    "state", "preferredrole", "peeraddress", "peerreachable", "peerstate", "connectedreplicas", "lasteventtimestamp", "lastsequencenum", "connectedagents",
  ]);
  assert.match(out, /^lastsequencenum: 18446744073709551615$/m);
  assert.match(out, /^peerstate: ""$/m);
  assert.match(out, /^connectedreplicas: 0$/m);
});
