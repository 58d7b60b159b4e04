/**
 * The resource proxy's TLS material (live-resources.md §2.1): server
 * certificate and key from `--resource-proxy-cert-path/-key-path` or the
 * Secret `--resource-proxy-secret-name` (or generated with
 * `--insecure-tls-generate`), and the client CA from `--resource-proxy-ca-path`
 * or the Secret `--resource-proxy-ca-secret-name` (`ca.crt` and/or `tls.crt`).
 * Upstream silently ignores the files unless all three paths are set; we
 * refuse a partial set instead, naming the flags.
 *
 * @example
 *   const tls = await resourceProxyTls(cfg, kube);
 *   await startResourceProxy({ ..., tls });
 */
import { StartupError } from "../cli/component-command.ts";
import type { KubeClient } from "../kube/client.ts";
import { getLogger } from "../observability/log.ts";
import { tlsVersionOptions, type TlsVersionSettings } from "../transport/tls-options.ts";
import { checkPem, readPem, readSecret, secretField } from "../transport/tls-material.ts";
import type { ResourceProxyTls } from "./server.ts";

const log = getLogger("resource-proxy");

export interface ResourceProxyTlsSettings extends TlsVersionSettings {
  namespace: string;
  listenHost: string;
  resourceProxyCertPath: string;
  resourceProxyKeyPath: string;
  resourceProxyCaPath: string;
  resourceProxySecretName: string;
  resourceProxyCaSecretName: string;
  insecureTlsGenerate: boolean;
}

export async function resourceProxyTls(cfg: ResourceProxyTlsSettings, kube: () => KubeClient): Promise<ResourceProxyTls> {
  if (Boolean(cfg.resourceProxyCertPath) !== Boolean(cfg.resourceProxyKeyPath)) {
    throw new StartupError("--resource-proxy-cert-path and --resource-proxy-key-path must be set together");
  }
  let cert: Buffer;
  let key: Buffer;
  if (cfg.resourceProxyCertPath) {
    cert = await readPem(cfg.resourceProxyCertPath, "--resource-proxy-cert-path", "certificate");
    key = await readPem(cfg.resourceProxyKeyPath, "--resource-proxy-key-path", "key");
  } else if (cfg.insecureTlsGenerate) {
    log.warn("INSECURE: using a generated self-signed resource proxy certificate (--insecure-tls-generate)");
    const { generateSelfSignedServer } = await import("../transport/certificates.ts"); // @peculiar/x509 only when needed (issue #19)
    const gen = await generateSelfSignedServer(["localhost", "127.0.0.1", "argocd-agent-resource-proxy", cfg.listenHost].filter(Boolean));
    cert = Buffer.from(gen.cert);
    key = Buffer.from(gen.key);
  } else {
    const data = await readSecret(kube(), cfg.namespace, cfg.resourceProxySecretName, "--resource-proxy-secret-name");
    const where = `Secret ${cfg.namespace}/${cfg.resourceProxySecretName}`;
    cert = secretField(data, "tls.crt", where, "certificate");
    key = secretField(data, "tls.key", where, "key");
  }
  let clientCa: Buffer;
  if (cfg.resourceProxyCaPath) {
    clientCa = await readPem(cfg.resourceProxyCaPath, "--resource-proxy-ca-path", "certificate");
  } else {
    const data = await readSecret(kube(), cfg.namespace, cfg.resourceProxyCaSecretName, "--resource-proxy-ca-secret-name");
    const where = `Secret ${cfg.namespace}/${cfg.resourceProxyCaSecretName}`;
    const parts = ["tls.crt", "ca.crt"].filter((f) => data[f]?.length);
    if (!parts.length) throw new StartupError(`${where}: neither ca.crt nor tls.crt is present (the resource proxy's client CA)`);
    for (const f of parts) checkPem(data[f], `${where} field ${f}`, "certificate");
    clientCa = Buffer.concat(parts.map((f) => data[f]));
  }
  const v = tlsVersionOptions(cfg);
  return { cert, key, clientCa, ...(v as Pick<ResourceProxyTls, "minVersion" | "maxVersion" | "ciphers">) };
}
