// The catalogue strings are the wire contract (wire-protocol.md §6): a typo makes
// an event unknown to the Go peer, so pin every one of them here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventTargets, EventTypes, Extensions, isEventTarget, isEventType } from "../../src/events/event-types.ts";

test("targets as sent in dataschema", () => {
  assert.deepEqual(Object.values(EventTargets).sort(), [
    "application", "applicationset", "appproject", "clusterCacheInfoUpdate", "containerlog", "eventProcessed",
    "gpgkey", "heartbeat", "redis", "repository", "resource", "resourceResync", "terminal",
  ]);
  assert.ok(isEventTarget("resourceResync"));
  assert.ok(!isEventTarget("unknown"));
  assert.ok(!isEventTarget("Application"));
});

test("type strings", () => {
  const suffixes = Object.values(EventTypes).map((t) => t.replace("io.argoproj.argocd-agent.event.", ""));
  assert.deepEqual(suffixes.sort(), [
    "cluster-cache-info-update", "create", "delete", "error", "get", "ping", "pong", "processed", "redis-request",
    "redis-response", "request-resource-resync", "request-synced-resource-list", "request-update", "response",
    "response-synced-resource", "set-operation", "spec-update", "status-update", "terminal-request", "terminate-operation",
  ]);
  assert.ok(isEventType("GET") && isEventType("DELETE") && isEventType(EventTypes.ping));
  assert.ok(!isEventType("get") && !isEventType("io.argoproj.argocd-agent.event.frobnicate"));
});

test("extension names", () => {
  assert.deepEqual(Extensions, {
    resourceId: "resourceid", eventId: "eventid", sentAt: "sentat", principalUid: "principaluid",
    traceParent: "traceparent", traceState: "tracestate",
  });
});
