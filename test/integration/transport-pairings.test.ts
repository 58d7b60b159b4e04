// Every auth/transport pairing with the real program: the three that work (TLS + mtls,
// TLS + userpass, plaintext + header behind a real proxy that injects the identity)
// end with a connected agent; the ones that cannot work are refused at start-up with
// exit code 2 and the fix, or, for mismatched agent credentials, with a clear
// authentication error on the agent side.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, LIVE_ROOMS_OFF, ROOT, runSync, start, startRaw, type Running } from "../support/processes.ts";
import { createTestPki, type TestPki } from "../support/pki.ts";
import { bcryptHash } from "../../src/auth/bcrypt.ts";

let pki: TestPki;
let dir: string;
const running: Running[] = [];

before(async () => {
  pki = await createTestPki();
  dir = mkdtempSync(join(tmpdir(), "argocd-agent-pairings-"));
});
after(async () => {
  await Promise.all(running.map((p) => p.stop("SIGTERM", 5000)));
  pki?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function launch(args: string[]): Running {
  const p = start(args);
  running.push(p);
  return p;
}

async function stopAll(...procs: Running[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop("SIGTERM", 5000)));
}

async function readyz(port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0;
  }
}

/** Polls the agent's /readyz until it answers `want` (the agent connected or not). */
async function waitReadyz(port: number, want: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    last = await readyz(port);
    if (last === want) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`/readyz on ${port} answered ${last}, expected ${want} within ${timeoutMs} ms`);
}

const principalBase = (port: number) => [
  "principal", "-n", "argocd", "--listen-host", "127.0.0.1", "--listen-port", String(port),
  "--insecure-jwt-generate", "--healthz-port", "0", "--metrics-port", "0", ...LIVE_ROOMS_OFF,
];
const principalTls = () => ["--tls-cert", pki.server.certFile, "--tls-key", pki.server.keyFile, "--root-ca-path", pki.caFile];
const agentBase = (port: number, healthz: number) => [
  "agent", "--server-address", "127.0.0.1", "--server-port", String(port),
  "--healthz-port", String(healthz), "--metrics-port", "0", "--agent-mode", "managed",
];

/** Checks the agent is ready and the principal saw it connect under `name`. */
async function assertConnected(principal: Running, agent: Running, healthz: number, name: string): Promise<void> {
  try {
    await principal.waitFor(new RegExp(`msg="agent connected" agent=${name} `));
    await waitReadyz(healthz, 200);
  } catch (err) {
    assert.fail(`${(err as Error).message}\n--- principal:\n${principal.output()}\n--- agent:\n${agent.output()}`);
  }
}

describe("valid pairings connect", () => {
  test("TLS + mtls:subject auth, agent --creds=mtls:any with a client certificate", async () => {
    const port = await freePort();
    const healthz = await freePort();
    const cert = await pki.agent("agent-mtls");
    const principal = launch([...principalBase(port), ...principalTls(), "--auth", "mtls:subject:CN=([^,]+)"]);
    await principal.waitFor(/principal started/);
    const agent = launch([
      ...agentBase(port, healthz), "--root-ca-path", pki.caFile,
      "--tls-client-cert", cert.certFile, "--tls-client-key", cert.keyFile, "--creds", "mtls:any",
    ]);
    await assertConnected(principal, agent, healthz, "agent-mtls");
    assert.match(principal.output(), /agent authenticated.*agent=agent-mtls.*method=mtls/);
    await stopAll(agent, principal);
  });

  test("TLS + userpass auth (bcrypt database), agent --creds=userpass:<file>", async () => {
    const port = await freePort();
    const healthz = await freePort();
    const db = join(dir, "userpass.db");
    writeFileSync(db, `# test users\nagent-up:${await bcryptHash("s3cret-pass", 4)}\n`);
    const creds = join(dir, "agent-up.creds");
    writeFileSync(creds, "agent-up:s3cret-pass\n");
    const principal = launch([...principalBase(port), ...principalTls(), "--auth", `userpass:${db}`]);
    await principal.waitFor(/principal started/);
    const agent = launch([...agentBase(port, healthz), "--root-ca-path", pki.caFile, "--creds", `userpass:${creds}`]);
    await assertConnected(principal, agent, healthz, "agent-up");
    assert.match(principal.output(), /agent authenticated.*agent=agent-up.*method=userpass/);
    await stopAll(agent, principal);
  });

  test("plaintext + header auth behind nginx injecting x-agent-id, agent --creds=header:", async () => {
    const port = await freePort();
    const proxyPort = await freePort();
    const healthz = await freePort();
    const ngx = join(dir, "nginx");
    for (const d of ["logs", "tmp"]) mkdirSync(join(ngx, d), { recursive: true });
    // One process, no user switch (we may run as root), every path inside the temp dir.
    const conf = `
master_process off;
worker_processes 1;
pid ${ngx}/nginx.pid;
error_log ${ngx}/logs/error.log info;
events { worker_connections 64; }
http {
  access_log ${ngx}/logs/access.log;
  client_body_temp_path ${ngx}/tmp/body;
  proxy_temp_path ${ngx}/tmp/proxy;
  fastcgi_temp_path ${ngx}/tmp/fastcgi;
  uwsgi_temp_path ${ngx}/tmp/uwsgi;
  scgi_temp_path ${ngx}/tmp/scgi;
  server {
    listen 127.0.0.1:${proxyPort} http2;
    location / {
      grpc_pass grpc://127.0.0.1:${port};
      grpc_set_header x-agent-id agent-1;
    }
  }
}
`;
    writeFileSync(join(ngx, "nginx.conf"), conf);
    const nginx = startRaw("/usr/sbin/nginx", ["-p", ngx, "-e", `${ngx}/logs/error.log`, "-c", join(ngx, "nginx.conf"), "-g", "daemon off;"]);
    running.push(nginx);
    const principal = launch([...principalBase(port), "--insecure-plaintext", "--auth", "header:x-agent-id:^([a-z0-9-]+)$"]);
    await principal.waitFor(/principal started/);
    // The agent talks plaintext to the proxy, which adds the identity header.
    const agent = launch([...agentBase(proxyPort, healthz), "--creds", "header:"]);
    await assertConnected(principal, agent, healthz, "agent-1");
    assert.match(principal.output(), /agent authenticated.*agent=agent-1.*method=header/);
    // The calls really went through the proxy.
    const access = readFileSync(join(ngx, "logs/access.log"), "utf8");
    assert.match(access, /POST \/authapi\.Authentication\/Authenticate HTTP\/2\.0" 200/);
    await stopAll(agent, principal, nginx);
  });
});

describe("invalid pairings are refused", () => {
  const cases: [string, string[], RegExp][] = [
    [
      "plaintext + mtls",
      ["--insecure-plaintext", "--auth", "mtls:subject:CN=([^,]+)"],
      /mtls auth cannot be used with --insecure-plaintext.*remove --insecure-plaintext/,
    ],
    [
      "TLS + header",
      ["--insecure-tls-generate", "--auth", "header:x-agent-id:^(.+)$"],
      /header auth requires --insecure-plaintext.*set --insecure-plaintext=true and --listen-host=127\.0\.0\.1/,
    ],
  ];
  for (const [name, args, re] of cases) {
    test(`${name}: exit 2 with the fix`, () => {
      const res = runSync([...principalBase(0), ...args]);
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, re);
    });
  }

  test("plaintext + header on 0.0.0.0: refused, unless --insecure-allow-nonloopback-header-auth", async () => {
    const args = ["principal", "-n", "argocd", "--listen-host", "0.0.0.0", "--listen-port", "0", "--insecure-plaintext",
      "--auth", "header:x-agent-id:^(.+)$", "--insecure-jwt-generate", "--healthz-port", "0", "--metrics-port", "0", ...LIVE_ROOMS_OFF];
    const refused = runSync(args);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /--listen-host.*0\.0\.0\.0.*set --listen-host=127\.0\.0\.1.*--insecure-allow-nonloopback-header-auth=true/);
    // With the override it starts (and says loudly why that is dangerous). It runs in a
    // network namespace of its own so nothing listens on the host's real interfaces.
    const allowed = startRaw("unshare", ["-n", process.execPath, join(ROOT, "src/main.ts"), ...args, "--insecure-allow-nonloopback-header-auth"]);
    running.push(allowed);
    await allowed.waitFor(/principal started/);
    assert.match(allowed.output(), /INSECURE: header auth in plaintext on non-loopback 0\.0\.0\.0/);
    assert.equal(await allowed.stop(), 0);
  });

  test("agent credentials that do not fit the principal's method: the agent logs an authentication failure and is not ready", async () => {
    const port = await freePort();
    const healthz = await freePort();
    const db = join(dir, "userpass-only.db");
    writeFileSync(db, `agent-x:${await bcryptHash("pw", 4)}\n`);
    const cert = await pki.agent("agent-x");
    const principal = launch([...principalBase(port), ...principalTls(), "--auth", `userpass:${db}`]);
    await principal.waitFor(/principal started/);
    // A TLS connection with a valid client certificate, but the principal wants userpass.
    const agent = launch([
      ...agentBase(port, healthz), "--root-ca-path", pki.caFile,
      "--tls-client-cert", cert.certFile, "--tls-client-key", cert.keyFile, "--creds", "mtls:any",
    ]);
    await agent.waitFor(/level=error component=agent msg="authentication failed".*UNAUTHENTICATED/);
    assert.match(agent.output(), /--creds|auth method/, "the agent's message points at the credentials setting");
    await principal.waitFor(/authentication failed.*agent uses auth method \\?"mtls\\?", the principal accepts \\?"userpass\\?"/);
    assert.equal(await readyz(healthz), 503);
    assert.doesNotMatch(principal.output(), /agent connected/);
    await stopAll(agent, principal);
  });
});
