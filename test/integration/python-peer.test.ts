// An independent peer: a Python grpcio client generated from our .proto files
// at test time talks to the real principal program the way a Go agent behind a
// mesh sidecar would (header identity, raw-JWT authorization, a Go-shaped
// heartbeat) and must get the Go-shaped ack back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { freePort, principalDevArgs, ROOT, start } from "../support/processes.ts";
import { generatePythonStubs, PYTHON } from "../support/python.ts";

test("a Python grpcio agent authenticates by header, subscribes and gets its heartbeat acked", { timeout: 90_000 }, async () => {
  const port = await freePort();
  const principal = start([...principalDevArgs(0, port)]);
  const stubs = generatePythonStubs();
  try {
    await principal.waitFor(/principal started/);
    const res = spawnSync(
      PYTHON,
      [join(ROOT, "test/support/python_peer.py"), "--stubs", stubs.dir, "--port", String(port), "--header-name", "x-agent-id", "--header-value", "agent-py"],
      { encoding: "utf8", timeout: 30_000 },
    );
    const line = res.stdout.trim().split("\n").pop() ?? "";
    let out: Record<string, any>;
    try {
      out = JSON.parse(line);
    } catch {
      assert.fail(`python peer printed no JSON (exit ${res.status}): ${res.stdout}\n${res.stderr}`);
    }
    assert.equal(out.ok, true, `python peer failed: ${line}\n${res.stderr}\nprincipal:\n${principal.output()}`);
    // Token layout a Go agent relies on.
    assert.deepEqual(out.sub, { clientID: "agent-py", mode: "managed" });
    assert.equal(out.principalNamespace, "argocd");
    assert.equal(out.principalVersion, "0.9.0");
    assert.equal(out.hasRefreshToken, true);
    assert.equal(out.version, "argocd-agent-0.9.0");
    // The ack, exactly as a Go principal builds it.
    const ack = out.ack;
    assert.equal(ack.type, "io.argoproj.argocd-agent.event.processed");
    assert.equal(ack.specVersion, "1.0");
    assert.equal(ack.source, "");
    assert.equal(ack.dataschema, "eventProcessed");
    assert.equal(ack.dataschemaKind, "ce_uri");
    assert.equal(ack.resourceid, out.sentEventId);
    assert.equal(ack.eventid, out.sentEventId);
    assert.deepEqual(ack.extensionKinds, { resourceid: "ce_string", eventid: "ce_string" });
    assert.equal(ack.dataLength, 0);
    assert.ok(ack.dataKind === null || ack.dataKind === "binary_data", `ack data field: ${ack.dataKind}`);
    await principal.waitFor(/agent connected.*agent=agent-py/);
  } finally {
    await principal.stop();
    stubs.remove();
  }
});
