// A peer that never reads (zero HTTP/2 receive window on its Subscribe stream)
// and floods heartbeats at the real principal program: every heartbeat asks for
// an ack the principal cannot deliver. The principal bounds what it queues for
// the stream (OUTBOUND_BACKLOG_MAX_BYTES, 16 MiB counted as payload + 1 KiB per
// message): over it, it stops reading from the peer; with nothing delivered for
// OUTBOUND_STALL_MS (20 s) it resets the stream (RST_STREAM ENHANCE_YOUR_CALM),
// logs why, and the memory is released. Before, the acks piled up without bound
// (+600 MiB RSS in 15 s) and stayed after the client left. "Released" is measured
// through the principal's inspector after a full garbage collection (RSS keeps
// pages the allocator got, so it only bounds the peak).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { freePort, principalDevArgs, ROOT, start } from "../support/processes.ts";
import { heldAfterGcMiB, rssMiB, watchRss } from "../support/process-memory.ts";
import { generatePythonStubs, PYTHON } from "../support/python.ts";
import { nonReadingPeer } from "../support/transport-abuse.ts";

/** What the principal's RSS may grow by while the non-reading peer is connected and after. */
const RSS_GROWTH_BOUND_MIB = 96;

test("a peer that never reads is disconnected with a log line; principal memory stays bounded and is reused", { timeout: 300_000 }, async () => {
  const port = await freePort();
  const inspectPort = await freePort();
  const principal = start(principalDevArgs(0, port), { NODE_OPTIONS: `--inspect=127.0.0.1:${inspectPort}` });
  const stubs = generatePythonStubs();
  try {
    await principal.waitFor(/principal started/);
    const pid = principal.proc.pid!;
    await new Promise((r) => setTimeout(r, 2000));
    const baseline = rssMiB(pid);
    const heldBefore = await heldAfterGcMiB(inspectPort);

    const rss = watchRss(pid);
    const done = await nonReadingPeer(port, "never-reads");
    const first = rss.stop();
    assert.equal(done.closedBy, "server", `the principal ended the stream: ${JSON.stringify(done)}`);
    assert.equal(done.enhanceYourCalm, true, "RST_STREAM ENHANCE_YOUR_CALM (RESOURCE_EXHAUSTED for gRPC clients)");
    const line = await principal.waitFor(/disconnecting a peer that does not read its stream.*/);
    assert.match(line[0], /peer=never-reads/);
    assert.match(line[0], /bound=16777216/);
    await principal.waitFor(/agent disconnected" agent=never-reads/);
    assert.ok(first - baseline < RSS_GROWTH_BOUND_MIB, `RSS ${baseline} MiB → peak ${first} MiB while the peer was connected`);

    // What the peers made the principal hold is freed once each is gone. A backlog that stayed
    // would hold at least the 16 MiB bound per peer (payload alone); three peers would be 48 MiB.
    const held: number[] = [];
    for (const name of ["never-reads-2", "never-reads-3"]) {
      const again = await nonReadingPeer(port, name);
      assert.equal(again.closedBy, "server");
      await principal.waitFor(new RegExp(`agent disconnected" agent=${name}`));
    }
    const heldAfter = await heldAfterGcMiB(inspectPort);
    held.push(heldBefore.total, heldAfter.total);
    assert.ok(
      heldAfter.total - heldBefore.total < 8,
      `held after GC: ${JSON.stringify(heldBefore)} MiB before the peers, ${JSON.stringify(heldAfter)} MiB after three: not released`,
    );

    // The principal still serves a healthy agent.
    const healthy = spawnSync(
      PYTHON,
      [join(ROOT, "test/support/python_peer.py"), "--stubs", stubs.dir, "--port", String(port), "--header-name", "x-agent-id", "--header-value", "healthy"],
      { encoding: "utf8", timeout: 30_000 },
    );
    assert.match(healthy.stdout, /"ok": true/, `healthy peer: ${healthy.stdout}\n${healthy.stderr}`);
    console.log(`principal RSS: baseline ${baseline} MiB, peak ${first} MiB with a non-reading peer; held after GC ${held.join(" → ")} MiB (before → after three peers)`);
  } finally {
    await principal.stop();
    stubs.remove();
  }
});
