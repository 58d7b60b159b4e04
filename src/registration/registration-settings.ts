/**
 * Start-up checks of the self cluster registration settings (operations.md §2):
 * `--enable-self-cluster-registration` needs `--self-registration-client-cert-secret`
 * (a Secret name in the principal namespace), the resource proxy (the
 * registered `server` points at it and its bearer tokens are for it) and the
 * Kubernetes API. Upstream stops with the first two; the name and address
 * checks are ours (upstream would write a Secret Argo CD cannot use). A
 * problem is a StartupError naming the flag: exit code 2.
 *
 * @example
 *   const reg = selfRegistrationSettings(cfg, replicationEnabled(cfg)); // undefined when disabled
 *   if (reg) new SelfRegistration({ kube, issuer, namespace: cfg.namespace, ...reg });
 */
import { StartupError } from "../cli/component-command.ts";
import { resourceProxyAddressError } from "../ctl/cluster-secret.ts";

export interface RegistrationSettingsInput {
  enableSelfClusterRegistration: boolean;
  selfRegistrationClientCertSecret: string;
  enableResourceProxy: boolean;
  resourceProxyAddress: string;
}

export interface RegistrationSettings {
  resourceProxyAddress: string;
  clientCertSecret: string;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function selfRegistrationSettings(cfg: RegistrationSettingsInput, kubeAvailable: boolean): RegistrationSettings | undefined {
  if (!cfg.enableSelfClusterRegistration) return undefined;
  const secret = cfg.selfRegistrationClientCertSecret;
  if (secret === "") {
    throw new StartupError(
      "--enable-self-cluster-registration needs --self-registration-client-cert-secret " +
        "(env ARGOCD_PRINCIPAL_SELF_REGISTRATION_CLIENT_CERT_SECRET): the Secret with tls.crt, tls.key and ca.crt that self-registered clusters use",
    );
  }
  if (secret.includes("/")) {
    throw new StartupError(`--self-registration-client-cert-secret "${secret}": give the Secret's name only; it is read from the principal namespace`);
  }
  if (secret.length > 253 || !DNS1123_SUBDOMAIN.test(secret)) {
    throw new StartupError(`--self-registration-client-cert-secret "${secret}" is not a valid Secret name (a DNS-1123 subdomain)`);
  }
  if (!cfg.enableResourceProxy) {
    throw new StartupError(
      "--enable-self-cluster-registration needs the resource proxy: self-registered clusters reach agents through it; remove --enable-resource-proxy=false",
    );
  }
  const bad = resourceProxyAddressError(cfg.resourceProxyAddress);
  if (bad) throw new StartupError(`--resource-proxy-address: ${bad} (it is written into self-registered cluster secrets as https://<address>?agentName=<agent>)`);
  if (!kubeAvailable) {
    throw new StartupError("--enable-self-cluster-registration needs the Kubernetes API: set --kubeconfig or run the principal in a cluster");
  }
  return { resourceProxyAddress: cfg.resourceProxyAddress, clientCertSecret: secret };
}
