/**
 * TLS versions and cipher suites as the upstream settings name them (Go names),
 * mapped onto Node/OpenSSL. TLS 1.3 suites are not configurable (as in Go).
 */
import type { SecureVersion } from "node:tls";
import { StartupError } from "../cli/component-command.ts";

const VERSIONS: Record<string, SecureVersion> = { "tls1.1": "TLSv1.1", "tls1.2": "TLSv1.2", "tls1.3": "TLSv1.3" };

/** Go cipher-suite names (crypto/tls) → OpenSSL names, for TLS 1.2 and below. */
export const CIPHER_SUITES: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "ECDHE-ECDSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "ECDHE-RSA-AES128-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
  TLS_RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
  TLS_RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
};

export interface TlsVersionSettings {
  tlsMinVersion: string;
  tlsMaxVersion: string;
  tlsCiphersuites: string[];
}

/** True when the user asked for `--tls-ciphersuites list`. */
export function wantsCipherList(cfg: TlsVersionSettings): boolean {
  return cfg.tlsCiphersuites.length === 1 && cfg.tlsCiphersuites[0] === "list";
}

export function cipherListText(): string {
  return Object.keys(CIPHER_SUITES).join("\n");
}

/** Node TLS options for the version and cipher settings; a bad combination is a StartupError. */
export function tlsVersionOptions(cfg: TlsVersionSettings): { minVersion?: SecureVersion; maxVersion?: SecureVersion; ciphers?: string } {
  const out: { minVersion?: SecureVersion; maxVersion?: SecureVersion; ciphers?: string } = {};
  if (cfg.tlsMinVersion) out.minVersion = VERSIONS[cfg.tlsMinVersion];
  if (cfg.tlsMaxVersion) out.maxVersion = VERSIONS[cfg.tlsMaxVersion];
  if (out.minVersion && out.maxVersion && out.minVersion > out.maxVersion) {
    throw new StartupError(`--tls-min-version ${cfg.tlsMinVersion} is above --tls-max-version ${cfg.tlsMaxVersion}`);
  }
  const suites = cfg.tlsCiphersuites.filter((s) => s !== "");
  if (suites.length) {
    const unknown = suites.filter((s) => !CIPHER_SUITES[s]);
    if (unknown.length) {
      throw new StartupError(`--tls-ciphersuites: unknown suite(s) ${unknown.join(", ")}; use --tls-ciphersuites=list to see the supported ones`);
    }
    out.ciphers = suites.map((s) => CIPHER_SUITES[s]).join(":");
  }
  return out;
}
