/**
 * The agent's channel credentials: plaintext (to a mesh sidecar), or TLS with
 * the principal verified against a CA (or not at all with --insecure-tls), an
 * optional client certificate, and the TLS version/cipher settings.
 */
import { credentials, type ChannelCredentials } from "@grpc/grpc-js";
import { createSecureContext, type SecureVersion } from "node:tls";

export interface ClientTlsOptions {
  plaintext: boolean;
  /** Skip verification of the principal's certificate. */
  insecureSkipVerify: boolean;
  rootCa?: Buffer;
  clientCert?: Buffer;
  clientKey?: Buffer;
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
  ciphers?: string;
}

export function channelCredentials(opts: ClientTlsOptions): ChannelCredentials {
  if (opts.plaintext) return credentials.createInsecure();
  const ctx = createSecureContext({
    ca: opts.rootCa,
    cert: opts.clientCert,
    key: opts.clientKey,
    minVersion: opts.minVersion,
    maxVersion: opts.maxVersion,
    ciphers: opts.ciphers,
  });
  return credentials.createFromSecureContext(
    ctx,
    opts.insecureSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
  );
}
