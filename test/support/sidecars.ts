/**
 * Mesh sidecars for the netns "pods" (test/support/netns.ts): Caddy stands in
 * for the Istio/Linkerd proxies (mTLS with SPIFFE or Linkerd identities, the
 * identity header set from the verified client certificate), nginx for an
 * intermediary with idle timeouts. Config files and certificates go into a
 * fresh temp dir; the proxy runs inside the pod's netns and start resolves
 * once every expected listener is up.
 *
 * @example
 *   const pki = await meshPki();
 *   const inbound = await startCaddy(principalPod, {
 *     files: pki.files("principal"),
 *     caddyfile: (f) => principalSidecarCaddyfile({ flavour: "istio", bindIp: principalPod.ip, port: 15443, upstreamPort: 8443, files: f }),
 *     listen: [{ host: principalPod.ip, port: 15443 }],
 *   });
 *   after(() => inbound.stop());
 */
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Running } from "./processes.ts";
import type { Pod } from "./netns.ts";
import { createCa, issueCertificate, type CertificateAuthority, type PemPair } from "../../src/transport/certificates.ts";

export const CADDY = "/usr/bin/caddy";
export const NGINX = "/usr/sbin/nginx";

/** The mesh's trust domain and the names the tests use. */
export const TRUST_DOMAIN = "cluster.local";
export const PRINCIPAL_SERVICE = "argocd-agent-principal.argocd.svc.cluster.local";
export const PRINCIPAL_SPIFFE = `spiffe://${TRUST_DOMAIN}/ns/argocd/sa/argocd-agent-principal`;
export const spiffeId = (sa: string, ns = "argocd", domain = TRUST_DOMAIN) => `spiffe://${domain}/ns/${ns}/sa/${sa}`;
export const linkerdId = (sa: string, ns = "argocd") => `${sa}.${ns}.serviceaccount.identity.linkerd.cluster.local`;

/** The seed's header-auth settings. */
export const ISTIO_AUTH = "header:x-forwarded-client-cert:^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)";
export const LINKERD_AUTH = "header:l5d-client-id:^([^.]+)\\..*";

export interface Sidecar {
  /** The proxy process (output() has its log). */
  proc: Running;
  /** The temp dir holding its config and files. */
  dir: string;
  /** A file from that dir ("" while it does not exist), e.g. nginx's access.log. */
  readFile(name: string): string;
  stop(): Promise<void>;
}

export interface ListenAddress {
  host?: string;
  port: number;
}

/** Absolute path of a file written into the sidecar's dir. */
export type FilePath = (name: string) => string;

interface SidecarSpec {
  /** name → contents, written into the temp dir before start. */
  files?: Record<string, string>;
  /** Listeners that must be up before start resolves. */
  listen: ListenAddress[];
  startTimeoutMs?: number;
}

function tempDir(kind: string, files: Record<string, string> = {}): { dir: string; path: FilePath } {
  const dir = mkdtempSync(join(tmpdir(), `argocd-agent-${kind}-`));
  const path: FilePath = (name) => join(dir, name);
  for (const [name, text] of Object.entries(files)) writeFileSync(path(name), text, { mode: 0o600 });
  return { dir, path };
}

async function waitUp(pod: Pod, proc: Running, listen: ListenAddress[], what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const l of listen) {
    while (!pod.listening(l.port, l.host)) {
      if (proc.proc.exitCode !== null || proc.proc.signalCode !== null) {
        throw new Error(`${what} in pod ${pod.name} exited before listening on ${l.host ?? "*"}:${l.port}:\n${proc.output()}`);
      }
      if (Date.now() > deadline) throw new Error(`${what} in pod ${pod.name} not listening on ${l.host ?? "*"}:${l.port} after ${timeoutMs} ms:\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function sidecarHandle(proc: Running, dir: string): Sidecar {
  return {
    proc,
    dir,
    readFile: (name) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8") : ""),
    async stop() {
      await proc.stop("SIGTERM", 5_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `caddy run` with the Caddyfile inside the pod (admin API off, no state outside the temp dir). */
export async function startCaddy(pod: Pod, spec: SidecarSpec & { caddyfile: (path: FilePath) => string }): Promise<Sidecar> {
  const { dir, path } = tempDir("caddy", spec.files);
  writeFileSync(path("Caddyfile"), spec.caddyfile(path));
  const proc = pod.start(CADDY, ["run", "--config", path("Caddyfile"), "--adapter", "caddyfile"], {
    // Caddy keeps certificates and an autosave of its config under these; keep them in the temp dir.
    HOME: dir,
    XDG_DATA_HOME: join(dir, "data"),
    XDG_CONFIG_HOME: join(dir, "config"),
  });
  const sidecar = sidecarHandle(proc, dir);
  try {
    await waitUp(pod, proc, spec.listen, "caddy", spec.startTimeoutMs ?? 20_000);
  } catch (err) {
    await sidecar.stop();
    throw err;
  }
  return sidecar;
}

/**
 * Runs nginx in the foreground as a single process (so killing it leaves no
 * workers) with `httpBlock` as the contents of its `http {}` block. The error
 * log goes to the process output, the access log to `readFile("access.log")`.
 */
export async function startNginx(pod: Pod, spec: SidecarSpec & { httpBlock: (path: FilePath) => string }): Promise<Sidecar> {
  const { dir, path } = tempDir("nginx", spec.files);
  for (const d of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(path(d));
  const conf = [
    "daemon off;",
    "master_process off;",
    "worker_processes 1;",
    "error_log stderr info;",
    `pid ${path("nginx.pid")};`,
    "events { worker_connections 256; }",
    "http {",
    // Not /dev/stderr: that is a socket here, which nginx cannot open.
    `  access_log ${path("access.log")};`,
    ...["body", "proxy", "fastcgi", "uwsgi", "scgi"].map((d) => `  ${d === "body" ? "client_body" : d}_temp_path ${path(d)};`),
    spec.httpBlock(path),
    "}",
    "",
  ].join("\n");
  writeFileSync(path("nginx.conf"), conf);
  const proc = pod.start(NGINX, ["-p", dir, "-c", path("nginx.conf"), "-e", "stderr"]);
  const sidecar = sidecarHandle(proc, dir);
  try {
    await waitUp(pod, proc, spec.listen, "nginx", spec.startTimeoutMs ?? 20_000);
  } catch (err) {
    await sidecar.stop();
    throw err;
  }
  return sidecar;
}

// ---------------------------------------------------------------------------
// PKI: the mesh CA (trust domain), a foreign CA, and the workload certificates.

export interface MeshPki {
  /** The mesh's root CA (trust domain cluster.local). */
  ca: CertificateAuthority;
  /** An unrelated CA, for "certificate from another CA". */
  foreignCa: CertificateAuthority;
  /** The principal sidecar's server certificate (DNS: the Service name; URI: its SPIFFE ID). */
  principal: PemPair;
  /** A workload certificate the way the given mesh issues it to ServiceAccount `sa`. */
  workload(sa: string, opts?: { ns?: string; domain?: string; ca?: CertificateAuthority }): Promise<PemPair>;
}

export async function meshPki(): Promise<MeshPki> {
  const ca = await createCa("mesh root CA (cluster.local)");
  const foreignCa = await createCa("some other root CA");
  const principal = await issueCertificate(ca, {
    commonName: "argocd-agent-principal",
    dnsNames: [PRINCIPAL_SERVICE],
    uris: [PRINCIPAL_SPIFFE],
  });
  return {
    ca,
    foreignCa,
    principal,
    // Istio puts the SPIFFE ID in a URI SAN, Linkerd the identity name in a DNS SAN; a cert
    // with both serves either flavour.
    workload: (sa, opts = {}) =>
      issueCertificate(opts.ca ?? ca, {
        commonName: sa,
        uris: [spiffeId(sa, opts.ns, opts.domain)],
        dnsNames: [`${sa}.${opts.ns ?? "argocd"}.serviceaccount.identity.linkerd.${opts.domain ?? TRUST_DOMAIN}`],
        server: false,
      }),
  };
}

// ---------------------------------------------------------------------------
// Caddyfiles.

export type MeshFlavour = "istio" | "linkerd";

/**
 * The inbound sidecar of the principal pod: TLS on the pod IP with the
 * principal's certificate, client certificates required and verified against
 * the mesh CA, only identities of the trust domain admitted, the identity
 * header SET (replacing anything the caller sent) from the verified
 * certificate, then h2c to the principal on loopback.
 *
 * Files expected: principal.crt, principal.key, mesh-ca.crt.
 */
export function principalSidecarCaddyfile(o: {
  flavour: MeshFlavour;
  bindIp: string;
  port: number;
  /** The principal's loopback port. */
  upstreamPort: number;
  files: FilePath;
}): string {
  const f = o.files;
  // Caddy 2.6 placeholders for the verified client certificate. The `.0` index forms return
  // the first SAN of that type; the CEL `expression` matcher cannot take the URI one (it is a
  // *url.URL, "unsupported conversion to ref.Val"), `vars_regexp` stringifies it.
  const identity =
    o.flavour === "istio"
      ? {
          check: `{http.request.tls.client.san.uris.0} ^spiffe://${TRUST_DOMAIN.replaceAll(".", "\\.")}/ns/[^/]+/sa/[^/]+$`,
          header: `header_up X-Forwarded-Client-Cert "By=${PRINCIPAL_SPIFFE};Hash={http.request.tls.client.fingerprint};Subject=\\"\\";URI={http.request.tls.client.san.uris.0}"`,
        }
      : {
          check: `{http.request.tls.client.san.dns_names.0} ^[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.serviceaccount\\.identity\\.linkerd\\.${TRUST_DOMAIN.replaceAll(".", "\\.")}$`,
          header: `header_up L5d-Client-Id {http.request.tls.client.san.dns_names.0}`,
        };
  return `{
	admin off
	auto_https off
	servers {
		protocols h1 h2
	}
}

# No host in the address: the TLS connection policy then has no SNI matcher, so client
# authentication applies to every handshake (with a host, Caddy adds a catch-all policy
# WITHOUT client auth for other or missing SNI).
https://:${o.port} {
	bind ${o.bindIp}
	tls ${f("principal.crt")} ${f("principal.key")} {
		protocols tls1.2 tls1.3
		client_auth {
			mode require_and_verify
			trusted_ca_cert_file ${f("mesh-ca.crt")}
		}
	}
	@outside_trust_domain not vars_regexp ${identity.check}
	respond @outside_trust_domain "client identity outside the trust domain" 403
	reverse_proxy h2c://127.0.0.1:${o.upstreamPort} {
		${identity.header}
	}
}
`;
}

/**
 * The outbound sidecar of an agent pod: plaintext h2c on the pod's loopback
 * (what the agent's `--creds header:` talks to), mTLS with the workload
 * certificate to the principal pod's inbound sidecar.
 *
 * Files expected: workload.crt, workload.key, mesh-ca.crt.
 */
export function agentSidecarCaddyfile(o: { listenPort: number; principalIp: string; principalPort: number; files: FilePath }): string {
  const f = o.files;
  return `{
	admin off
	auto_https off
	servers {
		protocols h1 h2c
	}
}

http://:${o.listenPort} {
	bind 127.0.0.1
	reverse_proxy https://${o.principalIp}:${o.principalPort} {
		# The inbound sidecar answers 421 when :authority differs from the SNI.
		header_up Host ${PRINCIPAL_SERVICE}
		transport http {
			versions 2
			tls_server_name ${PRINCIPAL_SERVICE}
			tls_trusted_ca_certs ${f("mesh-ca.crt")}
			tls_client_auth ${f("workload.crt")} ${f("workload.key")}
		}
	}
}
`;
}

/**
 * nginx's `http {}` body for a gRPC hop with idle timeouts, like a mesh or load
 * balancer that cuts quiet streams: HTTP/2 plaintext in, `grpc_pass` out, and
 * the stream is reset when nothing is read from / written to the upstream for
 * `timeout` (nginx answers the client with RST_STREAM INTERNAL_ERROR).
 */
export function grpcIdleTimeoutNginx(o: { listen: string; upstream: string; timeout: string }): string {
  return `  server {
    listen ${o.listen} http2;
    location / {
      grpc_pass grpc://${o.upstream};
      grpc_read_timeout ${o.timeout};
      grpc_send_timeout ${o.timeout};
    }
  }`;
}
