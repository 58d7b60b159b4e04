/**
 * Throw-away PKI for the test API servers, made with the `openssl` CLI:
 * one CA that signs the serving certificate (127.0.0.1/localhost) and an
 * admin client certificate in group system:masters, plus the service-account
 * signing key. EC P-256 keys because they are generated in milliseconds.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface KubePki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** PEM contents, for kubeconfigs and HTTPS probes. */
  pem: { ca: string; adminCert: string; adminKey: string };
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`openssl ${args[0]} failed: ${stderr || String(err)}`);
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Signs a new key's certificate with the CA in `dir`. */
function issue(dir: string, name: string, subject: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, ["req", ...EC_KEY, "-keyout", `${name}.key`, "-subj", subject, "-out", `${name}.csr`]);
  openssl(dir, [
    "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
    "-days", "30", "-sha256", "-extfile", `${name}.ext`, "-out", `${name}.crt`,
  ]);
}

export function generatePki(dir: string): KubePki {
  openssl(dir, [
    "req", "-x509", ...EC_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
    "-subj", "/CN=argocd-agent-ts-kube-env-ca",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  issue(
    dir,
    "server",
    "/CN=kube-apiserver",
    "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
  );
  issue(
    dir,
    "admin",
    "/O=system:masters/CN=kube-env-admin",
    "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
  );
  openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key"]);
  openssl(dir, ["ec", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
  const path = (f: string) => join(dir, f);
  return {
    caCert: path("ca.crt"),
    serverCert: path("server.crt"),
    serverKey: path("server.key"),
    adminCert: path("admin.crt"),
    adminKey: path("admin.key"),
    serviceAccountKey: path("sa.key"),
    serviceAccountPub: path("sa.pub"),
    pem: {
      ca: readFileSync(path("ca.crt"), "utf8"),
      adminCert: readFileSync(path("admin.crt"), "utf8"),
      adminKey: readFileSync(path("admin.key"), "utf8"),
    },
  };
}
