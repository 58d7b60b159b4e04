/**
 * Build and version information. The bundler injects __BUILD_INFO__; running
 * from source falls back to package.json.
 */
import pkg from "../package.json" with { type: "json" };

declare const __BUILD_INFO__: { gitRevision: string; buildDate: string } | undefined;

const injected = typeof __BUILD_INFO__ === "undefined" ? undefined : __BUILD_INFO__;

export interface VersionInfo {
  name: string;
  version: string;
  gitRevision: string;
  buildDate: string;
  runtime: string;
  platform: string;
}

export function versionInfo(): VersionInfo {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return {
    name: "argocd-agent",
    version: pkg.version,
    gitRevision: injected?.gitRevision ?? "unknown",
    buildDate: injected?.buildDate ?? "unknown",
    runtime: deno ? `deno ${deno.version.deno}` : `node ${process.version}`,
    platform: `${process.platform}/${process.arch}`,
  };
}
