/**
 * What a running component evaluates (issue #19): a principal with the redis proxy off and
 * without --enable-websocket, and an autonomous agent connected to it over gRPC, must not load
 * ioredis, redis-parser, ws, client-node's exec/attach/port-forward, nor our WebSocket transport
 * and redis proxy modules; with the redis proxy and --enable-websocket on, they do (so the check
 * can fail). Both run from source with a module hook (registerHooks) that lists every module
 * loaded when it gets SIGUSR2. No Kubernetes: the agent replicates nothing and is autonomous,
 * so no cluster cache report reads redis (a managed agent's first report, after
 * --cache-refresh-interval, loads ioredis by design).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { bcryptHash } from "../../src/auth/bcrypt.ts";
import { freePort, start, type Running } from "../support/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "lazy-modules-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const HOOK = join(dir, "hook.mjs");
writeFileSync(HOOK, `
import { registerHooks } from "node:module";
import { writeFileSync } from "node:fs";
const loaded = [];
registerHooks({ load(url, ctx, next) { loaded.push(url); return next(url, ctx); } });
process.on("SIGUSR2", () => writeFileSync(process.env.LOADED_OUT, JSON.stringify(loaded)));
`);
writeFileSync(join(dir, "passwd"), `agent-a:${await bcryptHash("secret-a", 4)}\n`);
writeFileSync(join(dir, "creds"), "agent-a:secret-a\n");

async function ready(port: number, p: Running): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return;
    if (p.proc.exitCode !== null) throw new Error(`exited:\n${p.output()}`);
    if (Date.now() > deadline) throw new Error(`not ready:\n${p.output()}`);
    await sleep(50);
  }
}

/** The modules `p` has loaded so far, as paths relative to the project or node_modules. */
async function loaded(p: Running, out: string): Promise<string[]> {
  p.proc.kill("SIGUSR2");
  for (let i = 0; i < 200 && !existsSync(out); i++) await sleep(25);
  return (JSON.parse(readFileSync(out, "utf8")) as string[]).map((u) => u.replace(/^file:\/\/.*?\/(node_modules|src)\//, "$1/"));
}

async function run(opts: { principal: string[]; agent: string[] }, tag: string): Promise<{ principal: string[]; agent: string[] }> {
  const [grpc, ph, ah] = [await freePort(), await freePort(), await freePort()];
  const env = (name: string) => ({ NODE_OPTIONS: `--import=${HOOK}`, LOADED_OUT: join(dir, `${tag}-${name}.json`) });
  const principal = start([
    "principal", "-n", "argocd", "--listen-host", "127.0.0.1", "--listen-port", String(grpc), "--insecure-plaintext",
    "--auth", `userpass:${join(dir, "passwd")}`, "--insecure-jwt-generate", "--healthz-port", String(ph), "--metrics-port", "0",
    "--enable-resource-proxy=false", ...opts.principal,
  ], env("principal"));
  let agent: Running | undefined;
  try {
    await ready(ph, principal);
    agent = start([
      "agent", "--server-address", "127.0.0.1", "--server-port", String(grpc), "--insecure-plaintext",
      "--creds", `userpass:${join(dir, "creds")}`, "--namespace", "agent-a", "--agent-mode", "autonomous",
      "--healthz-port", String(ah), "--metrics-port", "0", ...opts.agent,
    ], env("agent"));
    await ready(ah, agent); // connected to the principal
    return { principal: await loaded(principal, env("principal").LOADED_OUT), agent: await loaded(agent, env("agent").LOADED_OUT) };
  } finally {
    await agent?.stop();
    await principal.stop();
  }
}

const has = (mods: string[], prefix: string) => mods.filter((m) => m.startsWith(prefix));
/** bridged-peer.ts stays: the auth layer asks it (a Map, no ws) whether a call came through the bridge. */
const WS_TRANSPORT = (mods: string[]) => has(mods, "src/transport/websocket/").filter((m) => m !== "src/transport/websocket/bridged-peer.ts");
const OPTIONAL = [
  "node_modules/ioredis/", "node_modules/redis-parser/", "node_modules/ws/",
  "node_modules/@kubernetes/client-node/dist/exec.js", "node_modules/@kubernetes/client-node/dist/attach.js",
  "node_modules/@kubernetes/client-node/dist/portforward.js", "src/redisproxy/redis-proxy.ts",
];

test("idle principal (redis proxy off, no --enable-websocket) and agent: no redis client, no WebSocket code", async () => {
  const m = await run({ principal: ["--disable-redis-proxy=true"], agent: [] }, "off");
  assert.ok(has(m.principal, "node_modules/@grpc/grpc-js/").length > 0 && has(m.agent, "src/agent/").length > 0, "the hook sees the components' modules");
  for (const prefix of OPTIONAL) {
    assert.deepEqual(has(m.principal, prefix), [], `principal loaded ${prefix}`);
    assert.deepEqual(has(m.agent, prefix), [], `agent loaded ${prefix}`);
  }
  assert.deepEqual(WS_TRANSPORT(m.principal), [], "principal loaded the WebSocket transport");
  assert.deepEqual(WS_TRANSPORT(m.agent), [], "agent loaded the WebSocket transport");
});

test("with the redis proxy and --enable-websocket on, they are loaded", async () => {
  const m = await run({ principal: ["--disable-redis-proxy=false", "--redis-proxy-port", String(await freePort()), "--enable-websocket"], agent: ["--enable-websocket"] }, "on");
  for (const prefix of ["node_modules/redis-parser/", "src/redisproxy/redis-proxy.ts", "node_modules/ws/", "src/transport/websocket/principal-listener.ts"]) {
    assert.ok(has(m.principal, prefix).length > 0, `principal loaded ${prefix}`);
  }
  for (const prefix of ["node_modules/ws/", "src/transport/websocket/agent-proxy.ts"]) assert.ok(has(m.agent, prefix).length > 0, `agent loaded ${prefix}`);
});
