// UpdateThrottle (--buffer-informer-event-interval): pure timing logic, driven
// by node:test's mock timers.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { UpdateThrottle } from "../../src/replication/agent/update-throttle.ts";
import type { KubeObject } from "../../src/kube/resources.ts";

type Obj = KubeObject & { v: number };
const obj = (name: string, v: number): Obj => ({ metadata: { namespace: "ns", name, resourceVersion: String(v) }, v });

function recorder() {
  const calls: string[] = [];
  const t = new UpdateThrottle<Obj>(1000, {
    onAdd: (o) => calls.push(`add ${o.metadata.name}@${o.v}`),
    onUpdate: (old, cur, coalesced) => calls.push(`update ${cur.metadata.name} ${old.v}->${cur.v}${coalesced ? " coalesced" : ""}`),
    onDelete: (o) => calls.push(`delete ${o.metadata.name}@${o.v}`),
  });
  return { t, calls };
}

test("first update passes at once; later ones in the window fold into one at its end", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { t, calls } = recorder();
    t.update(obj("a", 1), obj("a", 2));
    assert.deepEqual(calls, ["update a 1->2"]);
    t.update(obj("a", 2), obj("a", 3));
    t.update(obj("a", 3), obj("a", 4));
    t.update(obj("a", 4), obj("a", 5));
    mock.timers.tick(999);
    assert.deepEqual(calls, ["update a 1->2"], "nothing more inside the window");
    mock.timers.tick(1);
    assert.deepEqual(calls, ["update a 1->2", "update a 2->5 coalesced"], "first held old, last new");
    assert.equal(t.coalesced, 2);
    // Sending the held update opened a new window.
    t.update(obj("a", 5), obj("a", 6));
    assert.equal(calls.length, 2);
    mock.timers.tick(1000);
    assert.deepEqual(calls.at(-1), "update a 5->6", "a single held update is not marked coalesced");
    // A window that ends with nothing held closes: the next update passes at once.
    mock.timers.tick(1000);
    assert.equal(t.open, 0);
    t.update(obj("a", 6), obj("a", 7));
    assert.deepEqual(calls.at(-1), "update a 6->7");
    t.stop();
  } finally {
    mock.timers.reset();
  }
});

test("objects have their own windows", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { t, calls } = recorder();
    t.update(obj("a", 1), obj("a", 2));
    t.update(obj("b", 1), obj("b", 2));
    t.update(obj("a", 2), obj("a", 3));
    assert.deepEqual(calls, ["update a 1->2", "update b 1->2"]);
    mock.timers.tick(1000);
    assert.deepEqual(calls, ["update a 1->2", "update b 1->2", "update a 2->3"]);
    t.stop();
  } finally {
    mock.timers.reset();
  }
});

test("adds and deletes are never held; they drop a held update", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { t, calls } = recorder();
    t.update(obj("a", 1), obj("a", 2));
    t.update(obj("a", 2), obj("a", 3));
    t.remove(obj("a", 3));
    assert.deepEqual(calls, ["update a 1->2", "delete a@3"]);
    mock.timers.tick(5000);
    assert.deepEqual(calls, ["update a 1->2", "delete a@3"], "the held update died with the object");
    t.add(obj("a", 10));
    t.update(obj("a", 10), obj("a", 11));
    assert.deepEqual(calls.slice(2), ["add a@10", "update a 10->11"], "a re-created object starts with an open window");
    t.update(obj("a", 11), obj("a", 12));
    t.add(obj("a", 20)); // re-listed after a watch restart
    mock.timers.tick(5000);
    assert.deepEqual(calls.slice(4), ["add a@20"], "an add supersedes the held update");
    assert.equal(t.open, 0);
  } finally {
    mock.timers.reset();
  }
});

test("stop drops held updates and timers", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { t, calls } = recorder();
    t.update(obj("a", 1), obj("a", 2));
    t.update(obj("a", 2), obj("a", 3));
    t.stop();
    mock.timers.tick(5000);
    assert.deepEqual(calls, ["update a 1->2"]);
    assert.equal(t.open, 0);
  } finally {
    mock.timers.reset();
  }
});

test("an interval of 0 or less is refused", () => {
  assert.throws(() => new UpdateThrottle<Obj>(0, {}), /greater than 0/);
});
