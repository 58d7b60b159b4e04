/**
 * gRPC server credentials with the full set of Node TLS options (versions,
 * ciphers, client certificates), which grpc-js's createSsl does not expose.
 */
import { ServerCredentials } from "@grpc/grpc-js";
import type { SecureServerOptions } from "node:http2";
import type { SecureContextOptions } from "node:tls";
import { TLS_HANDSHAKE_TIMEOUT_MS } from "./pre-auth-limits.ts";

export class TlsServerCredentials extends ServerCredentials {
  constructor(serverOptions: SecureServerOptions, contextOptions: SecureContextOptions) {
    // gRPC needs HTTP/2; Go clients refuse a server that does not negotiate ALPN h2.
    // A connection that does not finish its handshake in time is closed (half-open floods).
    super({ ALPNProtocols: ["h2"], handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS, ...serverOptions }, contextOptions);
  }

  _equals(other: ServerCredentials): boolean {
    return this === other;
  }
}

export interface ServerTlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** CA that client certificates are verified against. */
  clientCa?: Buffer;
}

export function serverCredentials(
  material: ServerTlsMaterial,
  opts: { requireClientCert: boolean; minVersion?: SecureContextOptions["minVersion"]; maxVersion?: SecureContextOptions["maxVersion"]; ciphers?: string },
): ServerCredentials {
  return new TlsServerCredentials(
    { requestCert: opts.requireClientCert || !!material.clientCa, rejectUnauthorized: opts.requireClientCert },
    {
      cert: material.cert,
      key: material.key,
      ca: material.clientCa,
      minVersion: opts.minVersion,
      maxVersion: opts.maxVersion,
      ciphers: opts.ciphers,
    },
  );
}
