/**
 * `argocd-agent ctl ha status|promote|demote --address` against a real
 * principal started with --ha-enabled (its HA admin API on 127.0.0.1):
 * the three output formats of `status` (operations.md §4.7), the
 * `Proceed? [y/N]:` prompts (declined, accepted, end of input, --force),
 * the principal's own refusals (FailedPrecondition) shown as they are,
 * and what an unreachable or hung address and bad flags give.
 * The port-forward path (no --address) is test/e2e/ctl-ha-port-forward.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { ctlAsync, startBlackHole, startHaPrincipal, type HaPrincipal } from "../support/ctl-ha.ts";
import { freePort } from "../support/processes.ts";

let p: HaPrincipal;
const ha = (args: string[], input = "") => ctlAsync(["ha", ...args, "-a", p.adminAddress], input);

async function state(): Promise<string> {
  const r = await ha(["status", "-o", "json"]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { state: string }).state;
}

before(async () => {
  p = await startHaPrincipal();
});
after(async () => {
  await p?.stop();
});

describe("ctl ha status", () => {
  it("prints the HA Status block by default: state, role, replicas (active), agents", async () => {
    const r = await ha(["status"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, [
      "HA Status",
      "---------",
      "State:             active",
      "Preferred Role:    primary",
      "Connected Replicas: 0",
      "Connected Agents:  0",
      "",
    ].join("\n"));
  });

  it("-o json is Go's JSON of the status: snake_case keys, zero values left out, two-space indent", async () => {
    const r = await ha(["status", "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '{\n  "state": "active",\n  "preferred_role": "primary"\n}\n');
  });

  it("-o yaml has every field under the lower-cased Go field names", async () => {
    const r = await ha(["status", "-o", "yaml"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parseYaml(r.stdout), {
      state: "active", preferredrole: "primary", peeraddress: "", peerreachable: false, peerstate: "",
      connectedreplicas: 0, lasteventtimestamp: 0, lastsequencenum: 0, connectedagents: 0,
    });
    assert.match(r.stdout, /^state: active\npreferredrole: primary\npeeraddress: ""\n/);
  });
});

describe("ctl ha demote and promote", () => {
  it("demote asks first; 'n' or the end of input cancels (exit 0) and nothing changes", async () => {
    for (const input of ["n\n", "", "yes please\n"]) {
      const r = await ha(["demote"], input);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.split("\n")[0], "WARNING: This will demote the principal to REPLICA.");
      assert.match(r.stdout, /Proceed\? \[y\/N\]: /);
      assert.match(r.stdout, /Operation cancelled\.\n$/);
      assert.doesNotMatch(r.stdout, /Demoted/);
    }
    assert.equal(await state(), "active");
  });

  it("demote with 'y' makes the principal a replica: Demoted. State is now: replicating", async () => {
    const r = await ha(["demote"], "y\n");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Proceed\? \[y\/N\]: Demoted\. State is now: replicating\n$/);
    const s = await ha(["status"]);
    assert.match(s.stdout, /^State: {13}replicating$/m);
    assert.match(s.stdout, /^Replicating: {7}true$/m, "not active: Replicating instead of Connected Replicas");
    assert.doesNotMatch(s.stdout, /Connected Replicas/);
    const json = JSON.parse((await ha(["status", "-o", "json"])).stdout) as Record<string, unknown>;
    assert.equal(json.peer_reachable, true);
  });

  it("the principal's refusal is shown and exits 1: promote without --force while replicating", async () => {
    const r = await ha(["promote"], "Y\n");
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^WARNING: This will promote the principal to ACTIVE\.\nProceed\? \[y\/N\]: $/);
    assert.match(r.stderr, /^argocd-agent ctl: error: promote refused by the principal: .*replicating.*\n$/);
    assert.equal(await state(), "replicating");
  });

  it("promote --force asks nothing and skips the safety check", async () => {
    const r = await ha(["promote", "--force"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "Promoted. State is now: active\n");
  });

  it("promoting an active principal is refused: already active", async () => {
    const r = await ha(["promote", "-f"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /promote refused by the principal: already active/);
  });

  it("demote -f asks nothing; demoting a replica is refused", async () => {
    const r = await ha(["demote", "-f"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "Demoted. State is now: replicating\n");
    const again = await ha(["demote", "--force"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /demote refused by the principal: .*replicating/);
    assert.equal((await ha(["promote", "--force"])).code, 0);
    assert.equal(await state(), "active");
  });
});

describe("ctl ha: unreachable, hung and bad input", () => {
  it("an address where nothing listens: cannot reach, exit 1, without waiting for the timeout", async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    for (const args of [["status"], ["promote", "-f"], ["demote", "-f"]]) {
      const r = await ctlAsync(["ha", ...args, "--address", addr, "--timeout", "40s"]);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, new RegExp(`cannot reach the HA admin API at ${addr}: .*ECONNREFUSED`));
      assert.equal(r.stdout, "");
      assert.ok(r.ms < 30_000, `fails at the refused connection, not at the 40s deadline (${r.ms} ms)`);
    }
  });

  it("a server that never answers: gives up after -t/--timeout", async () => {
    const hole = await startBlackHole();
    try {
      const r = await ctlAsync(["ha", "status", "-a", hole.address, "-t", "1500ms"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`no answer from the HA admin API at ${hole.address} in time`));
      assert.ok(r.ms >= 1400, `waited for the timeout (${r.ms} ms)`);
    } finally {
      await hole.close();
    }
  });

  it("bad flag values exit 2 naming the flag, before any prompt or dial", async () => {
    const cases: [string[], RegExp][] = [
      [["status", "-o", "xml"], /-o\/--output "xml"/],
      [["status", "-t", "soon"], /-t\/--timeout "soon"/],
      [["promote", "-t", "0"], /-t\/--timeout must be more than 0/],
      [["demote", "-a", "no-port"], /-a\/--address must be host:port/],
    ];
    for (const [args, re] of cases) {
      const r = await ctlAsync(["ha", ...args, ...(args.includes("-a") ? [] : ["-a", p.adminAddress])], "y\n");
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stdout, /Promoted|Demoted/);
    }
    assert.equal(await state(), "active");
  });
});
