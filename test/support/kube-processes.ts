/**
 * Process plumbing for the test Kubernetes environment: finding the
 * binaries, free ports, spawning servers in their own process group, and
 * making sure none of them outlives the test process.
 *
 * Three layers keep strays away: stop() kills each process group; an exit /
 * signal hook kills whatever is still registered; and on Linux each server is
 * started under `setpriv --pdeathsig SIGKILL`, so the kernel kills it even if
 * the test process is SIGKILLed itself.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

export interface KubeBinaries {
  kubeApiserver: string;
  etcd: string;
  /** Where they were found, for error messages and logs. */
  source: string;
  /** etcd's "major.minor" (e.g. 3.5); flags differ between releases. */
  etcdVersion: number;
}

function toolsCacheDir(): string {
  return process.env.ARGOCD_AGENT_TOOLS_DIR || join(homedir(), ".cache", "argocd-agent-ts", "tools");
}

function both(dir: string): KubeBinaries | undefined {
  const kubeApiserver = join(dir, "kube-apiserver");
  const etcd = join(dir, "etcd");
  return existsSync(kubeApiserver) && existsSync(etcd)
    ? { kubeApiserver, etcd, source: dir, etcdVersion: etcdVersion(etcd) }
    : undefined;
}

/** $KUBEBUILDER_ASSETS, then PATH, then the setup script's cache; throws with the fix if none has both. */
export function findKubeBinaries(): KubeBinaries {
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets) {
    const found = both(assets);
    if (found) return found;
  }
  const onPath = (name: string) =>
    (process.env.PATH ?? "").split(delimiter).map((d) => join(d, name)).find((p) => p && existsSync(p));
  const pathApiserver = onPath("kube-apiserver");
  const pathEtcd = onPath("etcd");
  // kube-apiserver 1.34 runs on etcd 3.4 only in a degraded mode (no RequestWatchProgress), so an
  // old etcd on PATH (Debian's /usr/bin/etcd is 3.4) must not win over the cache's 3.5.
  if (pathApiserver && pathEtcd && etcdVersion(pathEtcd) >= 3.5) {
    return { kubeApiserver: pathApiserver, etcd: pathEtcd, source: "PATH", etcdVersion: etcdVersion(pathEtcd) };
  }
  const cached = both(toolsCacheDir());
  if (cached) return cached;
  throw new Error(
    "kube-apiserver and etcd not found (looked in $KUBEBUILDER_ASSETS, PATH, " +
      `${toolsCacheDir()}). Run scripts/setup-kube-tools.sh once (it builds them into the cache), ` +
      "or set KUBEBUILDER_ASSETS to a directory holding both binaries.",
  );
}

/** "3.5" as 3.5 (minor < 10 in every etcd release), 0 if unknown. */
function etcdVersion(etcd: string): number {
  const out = spawnSync(etcd, ["--version"], { encoding: "utf8" }).stdout ?? "";
  const m = /etcd Version: (\d+)\.(\d+)/.exec(out);
  return m ? Number(m[1]) + Number(m[2]) / 10 : 0;
}

/** A free TCP port on 127.0.0.1 (the OS picks; there is a small race until the server binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logPath: string;
  /** Set once the process has exited. */
  exited: { code: number | null; signal: string | null } | undefined;
}

const live = new Set<ManagedProcess>();
const tempDirs = new Set<string>();
let hooksInstalled = false;

const hasSetpriv = process.platform === "linux" && spawnSync("setpriv", ["--help"]).status === 0;

/** Starts `cmd` in its own process group, output to `logPath`. */
export function startProcess(name: string, cmd: string, args: string[], logPath: string): ManagedProcess {
  installExitHooks();
  const fd = openSync(logPath, "a");
  const [file, argv] = hasSetpriv ? ["setpriv", ["--pdeathsig", "SIGKILL", "--", cmd, ...args]] : [cmd, args];
  // The Go tools (etcd, kube-apiserver) collect garbage less often: test
  // clusters are small and memory is plentiful, CPU on a 2-core box is not.
  const env = { ...process.env, GOGC: process.env["GOGC"] ?? "400" };
  const child = spawn(file, argv, { detached: true, stdio: ["ignore", fd, fd], env });
  closeSync(fd);
  // Unref'd so a test that forgets stop() still lets the process exit (the exit hook then kills it).
  child.unref();
  const proc: ManagedProcess = { name, child, logPath, exited: undefined };
  child.once("exit", (code, signal) => {
    proc.exited = { code, signal };
    live.delete(proc);
  });
  child.once("error", () => live.delete(proc));
  live.add(proc);
  return proc;
}

function killGroup(proc: ManagedProcess, signal: NodeJS.Signals): void {
  if (proc.exited || proc.child.pid === undefined) return;
  try {
    process.kill(-proc.child.pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM the group, SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopProcess(proc: ManagedProcess, graceMs = 3000): Promise<void> {
  if (proc.exited) return;
  proc.child.ref(); // keep the event loop alive until the exit is observed
  const exited = new Promise<void>((resolve) => proc.child.once("exit", () => resolve()));
  killGroup(proc, "SIGTERM");
  const timer = setTimeout(() => killGroup(proc, "SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

const OWNER_FILE = "owner.pid";

/** Tracks `dir` for removal at exit; records our pid so a later run can sweep it if we get SIGKILLed. */
export function registerTempDir(dir: string): void {
  installExitHooks();
  tempDirs.add(dir);
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
}

/** Removes `<parent>/<prefix>*` dirs left by test processes that no longer exist (SIGKILL skips all hooks). */
export function sweepStaleTempDirs(parent: string, prefix: string): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(parent, name);
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), "utf8"));
    } catch {
      continue; // not ours, or still being set up
    }
    if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) rmSync(dir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Last lines of a process log, for error messages. */
export function logTail(proc: ManagedProcess, lines = 30): string {
  try {
    return readFileSync(proc.logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// Synchronous last-chance cleanup: runs on normal exit, uncaught errors and SIGINT/SIGTERM/SIGHUP.
function killEverything(): void {
  for (const proc of live) killGroup(proc, "SIGKILL");
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killEverything);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      killEverything();
      process.kill(process.pid, sig); // our once-listener is gone: default action (exit) now applies
    });
  }
}
