/**
 * The system Python with Debian's grpcio (a pyenv `python3` on PATH has none),
 * and stubs generated from our .proto files at test time, for the independent
 * gRPC-core peers in test/support/python_*.py.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./processes.ts";

export const PYTHON = "/usr/bin/python3";
const PROTOS = ["auth.proto", "version.proto", "eventstream.proto", "cloudevent.proto"];

/** Generates the *_pb2*.py modules into a fresh directory; call `remove` when done. */
export function generatePythonStubs(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "argocd-agent-pystubs-"));
  const res = spawnSync(
    PYTHON,
    ["-m", "grpc_tools.protoc", "-I", join(ROOT, "src/proto"), `--python_out=${dir}`, `--grpc_python_out=${dir}`, ...PROTOS.map((p) => join(ROOT, "src/proto", p))],
    { encoding: "utf8", timeout: 60_000 },
  );
  if (res.status !== 0) throw new Error(`grpc_tools.protoc failed: ${res.stderr}`);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface PythonRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON (the peers print one object). */
  json: Record<string, any> | undefined;
}

/** Runs one of the test/support/python_*.py peers without blocking the event loop. */
export function runPythonPeer(script: string, args: string[], timeoutMs: number): Promise<PythonRun> {
  return new Promise((resolve) => {
    const proc = spawn(PYTHON, [join(ROOT, "test/support", script), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d: Buffer) => (stdout += d));
    proc.stderr.on("data", (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      let json: Record<string, any> | undefined;
      try {
        json = JSON.parse(stdout.trim().split("\n").pop() ?? "");
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

/** GOAWAY too_many_pings frames a gRPC-core client received (core logs one line each). */
export function tooManyPingsGoaways(stderr: string): number {
  return stderr.split("\n").filter((l) => l.includes("GOAWAY") && l.includes("too_many_pings")).length;
}
