/**
 * Build and version information, in the shape of upstream's internal/version: the bundler
 * (scripts/release/bundles.ts) injects __BUILD_INFO__ with the full git revision, the tree
 * state and a build date derived from the commit; running from source falls back to
 * "unknown". The version itself is package.json's (the release's VERSION file).
 *
 * @example
 *   versionInfo(); // { name: "argocd-agent", version: "0.1.0", gitRevision: "7f43c93…", gitStatus: "clean", … }
 *   qualifiedVersion(versionInfo()); // "argocd-agent-0.1.0", what `argocd-agent version` prints
 */
import pkg from "../package.json" with { type: "json" };

declare const __BUILD_INFO__: { gitRevision: string; gitStatus?: string; buildDate: string } | undefined;

const injected = typeof __BUILD_INFO__ === "undefined" ? undefined : __BUILD_INFO__;

/** Upstream's fields in upstream's order; `runtime` replaces `goVersion`, `platform` is ours. */
export interface VersionInfo {
  name: string;
  version: string;
  gitRevision: string;
  gitStatus: string;
  runtime: string;
  buildDate: string;
  platform: string;
}

export function versionInfo(): VersionInfo {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return {
    name: "argocd-agent",
    version: pkg.version,
    gitRevision: injected?.gitRevision ?? "unknown",
    gitStatus: injected?.gitStatus ?? "unknown",
    runtime: deno ? `deno ${deno.version.deno}` : `node ${process.version}`,
    buildDate: injected?.buildDate ?? "unknown",
    platform: `${process.platform}/${process.arch}`,
  };
}

/** `<name>-<version>`, upstream's QualifiedVersion (the text output of `version`). */
export function qualifiedVersion(info: VersionInfo): string {
  return `${info.name}-${info.version}`;
}
