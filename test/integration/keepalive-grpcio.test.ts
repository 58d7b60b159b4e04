// Keepalive enforcement as grpc-go's server does it, seen by a stock gRPC-core
// client: Python grpcio with default channel options (BDP pings on) holds a
// Subscribe stream against the real principal program and sends a heartbeat
// every second for 60 s. gRPC core answers each ack with a BDP ping, about one
// ping per second against our 10 s minimum; grpc-go forgives pings that follow
// data it sent, so the client must never be sent GOAWAY too_many_pings (it was,
// every 3 s, while we counted every early ping). The abusive case (pings with no
// data in between) still gets GOAWAY: see "keepalive enforcement" in
// transport-auth.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { freePort, principalDevArgs, start } from "../support/processes.ts";
import { generatePythonStubs, runPythonPeer, tooManyPingsGoaways } from "../support/python.ts";

const DURATION_S = 60;

test(`a grpcio client (default options) heartbeating every 1 s for ${DURATION_S} s is never sent GOAWAY`, { timeout: (DURATION_S + 60) * 1000 }, async () => {
  const port = await freePort();
  const principal = start(principalDevArgs(0, port)); // --keepalive-min-interval unset: 10 s
  const stubs = generatePythonStubs();
  try {
    await principal.waitFor(/principal started/);
    const run = await runPythonPeer(
      "python_heartbeats.py",
      ["--stubs", stubs.dir, "--port", String(port), "--header-name", "x-agent-id", "--header-value", "agent-py", "--interval", "1", "--duration", String(DURATION_S)],
      (DURATION_S + 30) * 1000,
    );
    const out = run.json;
    assert.ok(out, `python client printed no JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`);
    assert.equal(tooManyPingsGoaways(run.stderr), 0, `GOAWAYs received by the client:\n${run.stderr}`);
    assert.doesNotMatch(principal.output(), /too_many_pings/);
    assert.deepEqual(out.streamErrors, [], "the stream never broke");
    assert.equal(out.subscribes, 1);
    assert.ok(out.heartbeats >= DURATION_S - 2, `heartbeats sent: ${out.heartbeats}`);
    assert.ok(out.acks >= out.heartbeats - 2, `acks ${out.acks} for ${out.heartbeats} heartbeats`);
  } finally {
    await principal.stop();
    stubs.remove();
  }
});
