/**
 * The kustomize manifests (manifests/) as a specification: every overlay renders with
 * kustomize v5; the ConfigMap, the env wiring and the settings tables agree key by key;
 * the values the program would read from the rendered env are valid and match every
 * port the manifests declare; pods are hardened; and each overlay's security posture
 * holds (plaintext header auth only behind a mesh proxy, never reachable around it).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import { diagnoseHeaderAuth } from "../../src/auth/diagnose.ts";
import { HeaderIdentity } from "../../src/auth/header-identity.ts";
import { matchIdentity } from "../../src/auth/identity-pattern.ts";
import { parseAgentCreds, parseAuthSetting } from "../../src/auth/method.ts";
import { MtlsIdentity } from "../../src/auth/mtls-identity.ts";
import { isLoopbackHost, validateAuthTlsPairing } from "../../src/auth/pairing.ts";
import { AGENT_SETTINGS } from "../../src/settings/agent-settings.ts";
import { parseDuration, splitCsv } from "../../src/settings/parse-values.ts";
import { PRINCIPAL_SETTINGS } from "../../src/settings/principal-settings.ts";
import { resolveSettings } from "../../src/settings/resolve.ts";
import { camelCase, type SettingDef, type SettingValues } from "../../src/settings/types.ts";
import { GENERATED_FILES, PARAMS_CONFIGMAP } from "../../scripts/update-manifest-params.ts";
import { ROOT } from "../support/processes.ts";
import {
  findKustomize, findObject, objectsOfKind, OVERLAYS, renderComposition, renderOverlay, type KubeManifest, type OverlayName,
} from "../support/kustomize.ts";

const NAMESPACE = "argocd";
const IMAGE = "ghcr.io/argocd-agent-ts/argocd-agent:latest";
const UID = 65532;

type PrincipalValues = SettingValues<typeof PRINCIPAL_SETTINGS>;
type AgentValues = SettingValues<typeof AGENT_SETTINGS>;

interface ComponentSpec {
  name: "principal" | "agent";
  deployment: string;
  table: readonly SettingDef[];
}
const COMPONENTS: ComponentSpec[] = [
  { name: "principal", deployment: "argocd-agent-principal", table: PRINCIPAL_SETTINGS },
  { name: "agent", deployment: "argocd-agent-agent", table: AGENT_SETTINGS },
];

// ---------------------------------------------------------------------------------------
// Reading a rendered overlay the way the kubelet and the program would.

interface Rendered {
  objects: KubeManifest[];
  cm: Record<string, string>;
  principal: PrincipalValues;
  agent: AgentValues;
  /** Flags given on the command line (args after the subcommand), by component. */
  flags: Record<string, Record<string, unknown>>;
}

function deployment(objects: KubeManifest[], c: ComponentSpec | string): KubeManifest {
  return findObject(objects, "Deployment", typeof c === "string" ? c : c.deployment);
}

function podSpec(d: KubeManifest) {
  return d.spec.template.spec;
}

function mainContainer(d: KubeManifest) {
  const containers = podSpec(d).containers as KubeManifest[];
  assert.equal(containers.length, 1, `${d.metadata.name}: one container (mesh proxies are injected at admission)`);
  return containers[0];
}

/** The container's environment as the kubelet builds it (optional refs to missing keys stay unset). */
function containerEnv(d: KubeManifest, cm: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of mainContainer(d).env ?? []) {
    // Argo CD's redis password comes from Argo CD's own Secret (a test below checks the reference).
    if (e.name === "REDIS_PASSWORD" && e.valueFrom?.secretKeyRef) continue;
    const ref = e.valueFrom?.configMapKeyRef;
    assert.ok(ref, `${d.metadata.name}: env ${e.name} must come from the ${PARAMS_CONFIGMAP} ConfigMap`);
    assert.equal(ref.name, PARAMS_CONFIGMAP, `${d.metadata.name}: env ${e.name}`);
    if (ref.key in cm) env[e.name] = cm[ref.key];
    else assert.equal(ref.optional, true, `${d.metadata.name}: env ${e.name} refers to missing key ${ref.key}`);
  }
  return env;
}

/** Flags from `args` after the subcommand, as commander would hand them to resolveSettings. */
function flagsFromArgs(args: string[], c: ComponentSpec): Record<string, unknown> {
  assert.equal(args[0], c.name, `${c.deployment}: the first argument is the subcommand`);
  const flags: Record<string, unknown> = {};
  for (const arg of args.slice(1)) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    assert.ok(m, `${c.deployment}: argument ${JSON.stringify(arg)} must be --flag or --flag=value`);
    const def = c.table.find((d) => d.flag && d.name === m[1]);
    assert.ok(def, `${c.deployment}: unknown flag --${m[1]}`);
    const value = m[2] ?? (def.type === "bool" ? "true" : undefined);
    assert.ok(value !== undefined, `${c.deployment}: --${m[1]} needs a value`);
    flags[camelCase(def.name)] = ["list", "kvlist", "loglevels"].includes(def.type) ? splitCsv(value) : value;
  }
  return flags;
}

function render(name: OverlayName): Rendered {
  const objects = renderOverlay(name);
  const cm = findObject(objects, "ConfigMap", PARAMS_CONFIGMAP).data as Record<string, string>;
  const flags: Record<string, Record<string, unknown>> = {};
  const values: Record<string, unknown> = {};
  for (const c of COMPONENTS) {
    const d = deployment(objects, c);
    flags[c.name] = flagsFromArgs(mainContainer(d).args, c);
    // Throws a SettingsError (the program's exit 2) for any invalid or unsupported value.
    values[c.name] = resolveSettings(c.table, flags[c.name], containerEnv(d, cm)).values;
  }
  return { objects, cm, principal: values.principal as PrincipalValues, agent: values.agent as AgentValues, flags };
}

function podLabels(d: KubeManifest): Record<string, string> {
  return d.spec.template.metadata.labels ?? {};
}

function podAnnotations(d: KubeManifest): Record<string, string> {
  return d.spec.template.metadata.annotations ?? {};
}

function matchesLabels(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** Services whose selector picks the pods of this Deployment. */
function servicesFor(objects: KubeManifest[], d: KubeManifest): KubeManifest[] {
  return objectsOfKind(objects, "Service").filter(
    (s) => s.spec.selector && matchesLabels(s.spec.selector, podLabels(d)),
  );
}

/** A port reference (number or container port name) as a number. */
function resolvePort(d: KubeManifest, port: number | string): number {
  if (typeof port === "number") return port;
  const named = (mainContainer(d).ports ?? []).find((p: { name?: string }) => p.name === port);
  assert.ok(named, `${d.metadata.name}: no container port named ${port}`);
  return named.containerPort;
}

function containerPorts(d: KubeManifest): number[] {
  return (mainContainer(d).ports ?? []).map((p: { containerPort: number }) => p.containerPort).sort();
}

function portList(annotation: string | undefined): number[] {
  return (annotation ?? "").split(",").map((s) => s.trim()).filter(Boolean).map(Number);
}

// ---------------------------------------------------------------------------------------

describe("manifests: kustomize", () => {
  it("finds kustomize v5", () => {
    const tool = findKustomize();
    assert.match(tool.describe, /v5\./);
  });

  for (const name of OVERLAYS) {
    it(`builds overlays/${name} with one Deployment per component, all in ${NAMESPACE}`, () => {
      const objects = renderOverlay(name);
      for (const c of COMPONENTS) deployment(objects, c);
      findObject(objects, "ConfigMap", PARAMS_CONFIGMAP);
      for (const o of objects) {
        const clusterScoped = ["ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"];
        if (clusterScoped.includes(o.kind)) assert.equal(o.metadata.namespace, undefined, `${o.kind}/${o.metadata.name}`);
        else assert.equal(o.metadata.namespace, NAMESPACE, `${o.kind}/${o.metadata.name}`);
        assert.equal(o.metadata.labels?.["app.kubernetes.io/part-of"], "argocd-agent", `${o.kind}/${o.metadata.name} part-of label`);
        assert.ok(
          ["principal", "agent", "shared"].includes(o.metadata.labels?.["app.kubernetes.io/component"] ?? ""),
          `${o.kind}/${o.metadata.name}: component label principal|agent|shared (used to split the install per cluster)`,
        );
      }
    });
  }

  it("the generated base files are up to date (node scripts/update-manifest-params.ts)", () => {
    for (const [path, renderFile] of Object.entries(GENERATED_FILES)) {
      assert.equal(readFileSync(`${ROOT}${path}`, "utf8"), renderFile(), `${path} is stale: run node scripts/update-manifest-params.ts`);
    }
  });
});

for (const overlay of OVERLAYS) {
  describe(`manifests: overlays/${overlay} settings and ports`, () => {
    let r: Rendered;
    before(() => {
      r = render(overlay);
    });

    it("has exactly the tables' ConfigMap keys, each wired to its own env var in its own component", () => {
      const tableKeys = new Map<string, { c: ComponentSpec; def: SettingDef }>();
      for (const c of COMPONENTS) {
        for (const def of c.table) if (def.configMapKey) tableKeys.set(def.configMapKey, { c, def });
      }
      assert.deepEqual(Object.keys(r.cm).sort(), [...tableKeys.keys()].sort(), "ConfigMap keys = every configMapKey of the settings tables");
      for (const [key, { c, def }] of tableKeys) {
        for (const other of COMPONENTS) {
          const refs = (mainContainer(deployment(r.objects, other)).env ?? []).filter(
            (e: KubeManifest) => e.valueFrom?.configMapKeyRef?.key === key,
          );
          if (other !== c) {
            assert.equal(refs.length, 0, `${key} must not feed the ${other.name}`);
            continue;
          }
          assert.equal(refs.length, 1, `${key} feeds exactly one env var of the ${c.name}`);
          assert.equal(refs[0].name, def.env, `${key} feeds ${def.env}`);
          assert.equal(refs[0].valueFrom.configMapKeyRef.optional, true, `${key}: optional: true`);
        }
      }
    });

    it("every env var of both containers references an existing key of the ConfigMap (REDIS_PASSWORD: Argo CD's redis Secret)", () => {
      for (const c of COMPONENTS) {
        const env = mainContainer(deployment(r.objects, c)).env ?? [];
        assert.equal(new Set(env.map((e: KubeManifest) => e.name)).size, env.length, `${c.name}: env names are unique`);
        for (const e of env) {
          if (e.name === "REDIS_PASSWORD") {
            assert.deepEqual(e.valueFrom, { secretKeyRef: { name: "argocd-redis", key: "auth", optional: true } }, `${c.name}: REDIS_PASSWORD from Argo CD's Secret, as upstream`);
            continue;
          }
          const key = e.valueFrom?.configMapKeyRef?.key;
          assert.ok(key !== undefined && key in r.cm, `${c.name}: env ${e.name} references key ${key}, which must exist`);
        }
      }
    });

    it("sets no unsupported setting to a non-default value", () => {
      for (const c of COMPONENTS) {
        for (const def of c.table.filter((d) => d.unsupported && d.configMapKey)) {
          assert.doesNotThrow(
            () => resolveSettings([def], {}, { [def.env!]: r.cm[def.configMapKey!] }),
            `${def.configMapKey} = ${JSON.stringify(r.cm[def.configMapKey!])} is not supported yet`,
          );
        }
      }
    });

    it("resolves both components' settings and the principal passes its auth/TLS start-up check", () => {
      assert.notEqual(r.principal.namespace, "", "the principal needs --namespace");
      assert.equal(r.principal.namespace, NAMESPACE);
      assert.notEqual(r.agent.serverAddress, "", "the agent needs --server-address");
      const auth = parseAuthSetting(r.principal.auth);
      validateAuthTlsPairing({
        auth,
        plaintext: r.principal.insecurePlaintext,
        listenHost: r.principal.listenHost,
        allowNonLoopbackPlaintext: r.principal.insecureAllowNonloopbackHeaderAuth,
      });
      parseAgentCreds(r.agent.creds);
      assert.equal(r.principal.insecureTlsGenerate, false, "no self-signed server certificate");
      assert.equal(r.principal.insecureJwtGenerate, false, "no generated JWT key");
      assert.equal(r.agent.insecureTls, false, "the agent never skips certificate verification (tls.client.insecure)");
    });

    it("principal ports: containerPorts, probes, Services and scrape hints match the resolved settings", () => {
      const d = deployment(r.objects, "argocd-agent-principal");
      const p = r.principal;
      assert.equal(p.enableResourceProxy, true, "the resource proxy is on, as upstream");
      assert.equal(p.disableRedisProxy, false, "the redis proxy is on, as upstream");
      assert.deepEqual(containerPorts(d), [p.listenPort, p.metricsPort, p.healthzPort, p.resourceProxyPort, p.redisProxyPort].sort());
      const grpc = mainContainer(d).ports.find((x: { containerPort: number }) => x.containerPort === p.listenPort);
      assert.equal(grpc.name, "grpc");
      assertProbes(d, p.healthzPort);
      assert.equal(podAnnotations(d)["prometheus.io/port"], String(p.metricsPort));
      const services = servicesFor(r.objects, d);
      for (const s of services) {
        for (const port of s.spec.ports) {
          assert.ok(containerPorts(d).includes(resolvePort(d, port.targetPort ?? port.port)), `${s.metadata.name}: targetPort ${port.targetPort} is a container port`);
        }
      }
      const grpcServices = services.filter((s) => s.spec.ports.some((x: KubeManifest) => resolvePort(d, x.targetPort ?? x.port) === p.listenPort));
      assert.deepEqual(grpcServices.map((s) => s.metadata.name), ["argocd-agent-principal"], "one Service reaches the gRPC port");
      const rpServices = services.filter((s) => s.spec.ports.some((x: KubeManifest) => resolvePort(d, x.targetPort ?? x.port) === p.resourceProxyPort));
      assert.deepEqual(rpServices.map((s) => s.metadata.name), ["argocd-agent-resource-proxy"], "Service argocd-agent-resource-proxy reaches the resource proxy");
      assert.equal(rpServices[0].spec.ports[0].port, 9090, "cluster Secrets default to argocd-agent-resource-proxy:9090");
      const redisServices = services.filter((s) => s.spec.ports.some((x: KubeManifest) => resolvePort(d, x.targetPort ?? x.port) === p.redisProxyPort));
      assert.deepEqual(redisServices.map((s) => s.metadata.name), ["argocd-agent-redis-proxy"], "Service argocd-agent-redis-proxy reaches the redis proxy");
      const redisPort = redisServices[0].spec.ports[0];
      assert.equal(redisPort.port, 6379, "argocd-server's redis.server: argocd-agent-redis-proxy:6379");
      assert.match(redisPort.name, /^tcp-/, "plain TCP for meshes (Istio's redis filter has no pub/sub)");
    });

    it("the NetworkPolicy admits the resource proxy and the redis proxy only from Argo CD's server pods", () => {
      const d = deployment(r.objects, "argocd-agent-principal");
      const np = objectsOfKind(r.objects, "NetworkPolicy").find((x) => matchesLabels(x.spec.podSelector.matchLabels, podLabels(d)));
      assert.ok(np);
      for (const port of [r.principal.resourceProxyPort, r.principal.redisProxyPort]) {
        const rules: KubeManifest[] = (np.spec.ingress as KubeManifest[]).filter((rule) => !rule.ports || rule.ports.some((x: KubeManifest) => resolvePort(d, x.port) === port));
        assert.equal(rules.length, 1, `one rule admits port ${port}`);
        assert.deepEqual(rules[0].from, [{ namespaceSelector: {}, podSelector: { matchLabels: { "app.kubernetes.io/name": "argocd-server" } } }]);
      }
    });

    it("agent ports: metrics and health only (it is a client), matching its settings; it dials the principal Service", () => {
      const d = deployment(r.objects, "argocd-agent-agent");
      const a = r.agent;
      assert.deepEqual(containerPorts(d), [a.metricsPort, a.healthzPort].sort());
      assert.deepEqual(containerPorts(d), [8001, 8181], "agent metrics 8181 and health 8001 (not upstream's 8000/8002)");
      assertProbes(d, a.healthzPort);
      assert.equal(podAnnotations(d)["prometheus.io/port"], String(a.metricsPort));
      for (const s of servicesFor(r.objects, d)) {
        for (const port of s.spec.ports) {
          assert.ok(containerPorts(d).includes(resolvePort(d, port.targetPort ?? port.port)), `${s.metadata.name}: targetPort`);
        }
      }
      const svc = findObject(r.objects, "Service", "argocd-agent-principal");
      assert.equal(a.serverAddress, `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`);
      const principal = deployment(r.objects, "argocd-agent-principal");
      const port = svc.spec.ports.find((x: KubeManifest) => resolvePort(principal, x.targetPort) === r.principal.listenPort);
      assert.equal(a.serverPort, port.port, "agent.server.port is the Service port in front of the principal's listener");
    });

    it("keepalive pings and heartbeats fit the principal's ping policy", () => {
      assert.ok(r.agent.heartbeatInterval > 0, "heartbeats keep the stream busy for idle timeouts on the way");
      if (r.agent.keepAlivePingInterval > 0) {
        const min = r.principal.keepaliveMinInterval || 5 * 60_000; // 0 means grpc-go's 5m
        assert.ok(min <= r.agent.keepAlivePingInterval, "agent pings no more often than the principal allows (no GOAWAY too_many_pings)");
      }
    });

    it("runs hardened pods: distroless image as uid 65532, read-only root, no privileges, limits", () => {
      for (const c of COMPONENTS) {
        const d = deployment(r.objects, c);
        const pod = podSpec(d);
        const ctr = mainContainer(d);
        assert.equal(ctr.image, IMAGE);
        assert.equal(pod.serviceAccountName, c.deployment);
        assert.equal(pod.hostNetwork ?? false, false);
        assert.equal(pod.hostPID ?? false, false);
        assert.equal(pod.hostIPC ?? false, false);
        assert.ok((ctr.ports ?? []).every((p: KubeManifest) => p.hostPort === undefined), "no hostPort");
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.equal(pod.securityContext.runAsUser, UID);
        assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
        const sc = ctr.securityContext;
        assert.equal(sc.runAsNonRoot, true);
        assert.equal(sc.runAsUser, UID);
        assert.equal(sc.readOnlyRootFilesystem, true);
        assert.equal(sc.allowPrivilegeEscalation, false);
        assert.equal(sc.privileged, false);
        assert.deepEqual(sc.capabilities.drop, ["ALL"]);
        assert.equal(sc.capabilities.add, undefined);
        assert.equal(sc.seccompProfile.type, "RuntimeDefault");
        for (const kind of ["requests", "limits"]) {
          assert.ok(ctr.resources?.[kind]?.cpu && ctr.resources?.[kind]?.memory, `${c.name}: resources.${kind} cpu and memory`);
        }
      }
    });

    it("grants exactly the RBAC rules the base describes", () => {
      const rules = (kind: string, name: string) => normaliseRules(findObject(r.objects, kind, name).rules);
      assert.deepEqual(rules("ClusterRole", "argocd-agent-principal"), normaliseRules([
        { apiGroups: ["argoproj.io"], resources: ["applications"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
        { apiGroups: ["argoproj.io"], resources: ["applications/status"], verbs: ["update", "patch"] },
        { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch", "create"] },
      ]));
      assert.deepEqual(rules("Role", "argocd-agent-principal"), normaliseRules([
        { apiGroups: ["argoproj.io"], resources: ["appprojects"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
        { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch", "create"] },
      ]));
      assert.deepEqual(rules("Role", "argocd-agent-agent"), normaliseRules([
        { apiGroups: ["argoproj.io"], resources: ["applications"], verbs: ["get", "list", "watch", "update", "patch"] },
        { apiGroups: ["argoproj.io"], resources: ["applications/status"], verbs: ["update", "patch"] },
        { apiGroups: ["argoproj.io"], resources: ["appprojects"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["secrets", "configmaps"], verbs: ["get", "list", "watch"] },
      ]));
      assert.deepEqual(rules("ClusterRole", "argocd-agent-agent"), normaliseRules([
        { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] },
      ]));
      for (const c of COMPONENTS) {
        for (const kind of ["RoleBinding", "ClusterRoleBinding"]) {
          const b = findObject(r.objects, kind, c.deployment);
          assert.deepEqual(b.subjects, [{ kind: "ServiceAccount", name: c.deployment, namespace: NAMESPACE }]);
          assert.equal(b.roleRef.name, c.deployment);
        }
      }
    });
  });
}

function assertProbes(d: KubeManifest, healthzPort: number) {
  const ctr = mainContainer(d);
  assert.equal(ctr.livenessProbe.httpGet.path, "/healthz");
  assert.equal(ctr.readinessProbe.httpGet.path, "/readyz");
  assert.equal(resolvePort(d, ctr.livenessProbe.httpGet.port), healthzPort, "liveness probe on the health port");
  assert.equal(resolvePort(d, ctr.readinessProbe.httpGet.port), healthzPort, "readiness probe on the health port");
}

/** One entry per (group, resource, verb): rules compare regardless of how they are grouped. */
function normaliseRules(rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[]): string[] {
  const out: string[] = [];
  for (const rule of rules) {
    assert.equal(rule.resourceNames, undefined);
    for (const g of rule.apiGroups) for (const res of rule.resources) for (const v of rule.verbs) out.push(`${g}/${res}:${v}`);
  }
  return [...new Set(out)].sort();
}

// ---------------------------------------------------------------------------------------
// Security posture of the mesh overlays: the principal's plaintext, header-authenticated
// gRPC port must only ever be reached through the mesh proxy.

function meshPostureChecks(overlay: "istio" | "linkerd") {
  describe(`manifests: overlays/${overlay} security posture`, () => {
    let r: Rendered;
    let principal: KubeManifest;
    let agent: KubeManifest;
    before(() => {
      r = render(overlay);
      principal = deployment(r.objects, "argocd-agent-principal");
      agent = deployment(r.objects, "argocd-agent-agent");
    });

    it("principal: plaintext gRPC with header auth; agent: no credentials, plaintext to its own proxy", () => {
      assert.equal(r.principal.insecurePlaintext, true);
      assert.ok(parseAuthSetting(r.principal.auth) instanceof HeaderIdentity);
      assert.equal(r.agent.creds, "header:");
      assert.equal(r.agent.insecurePlaintext, true, "agent.tls.insecure-plaintext (not upstream's tls.client.insecure)");
      assert.equal(r.agent.insecureTls, false);
    });

    it("the gRPC Service stays inside the cluster (ClusterIP, no external IPs)", () => {
      for (const s of servicesFor(r.objects, principal)) {
        assert.equal(s.spec.type ?? "ClusterIP", "ClusterIP", `${s.metadata.name}`);
        assert.equal(s.spec.externalIPs, undefined);
        assert.ok(s.spec.ports.every((p: KubeManifest) => p.nodePort === undefined));
      }
    });

    it("no annotation lets traffic to the gRPC port bypass or blind the proxy", () => {
      for (const d of [principal, agent]) {
        const a = podAnnotations(d);
        for (const key of ["traffic.sidecar.istio.io/excludeInboundPorts", "config.linkerd.io/skip-inbound-ports", "config.linkerd.io/opaque-ports"]) {
          assert.ok(!portList(a[key]).includes(r.principal.listenPort), `${d.metadata.name}: ${key} must not list ${r.principal.listenPort}`);
        }
        const include = a["traffic.sidecar.istio.io/includeInboundPorts"];
        assert.ok(include === undefined || include === "*" || portList(include).includes(r.principal.listenPort));
      }
      for (const p of objectsOfKind(r.objects, "PeerAuthentication")) {
        assert.equal(p.spec.portLevelMtls, undefined, "no per-port mTLS exceptions");
      }
    });

    it("the NetworkPolicy admits the gRPC port only from selected pods (no ipBlock, no open rule)", () => {
      const policies = objectsOfKind(r.objects, "NetworkPolicy").filter((np) => matchesLabels(np.spec.podSelector.matchLabels, podLabels(principal)));
      assert.equal(policies.length, 1, "one NetworkPolicy selects the principal");
      const np = policies[0];
      assert.ok(np.spec.policyTypes.includes("Ingress"));
      const grpcRules = (np.spec.ingress as KubeManifest[]).filter(
        (rule) => !rule.ports || rule.ports.some((p: KubeManifest) => resolvePort(principal, p.port) === r.principal.listenPort),
      );
      assert.ok(grpcRules.length >= 1);
      for (const rule of grpcRules) {
        assert.ok(Array.isArray(rule.from) && rule.from.length > 0, "a rule for the gRPC port names its sources");
        for (const peer of rule.from) {
          assert.equal(peer.ipBlock, undefined, "no ipBlock: only (mesh) pods");
          assert.ok(peer.podSelector?.matchLabels && Object.keys(peer.podSelector.matchLabels).length > 0, "sources are selected pods");
        }
      }
      // In-cluster agents are admitted.
      assert.ok(grpcRules.some((rule) => rule.from.some((peer: KubeManifest) => matchesLabels(peer.podSelector.matchLabels, podLabels(agent)))));
    });

    if (overlay === "istio") {
      it("istio: principal on loopback; the Sidecar sends inbound 8443 to 127.0.0.1:8443", () => {
        assert.ok(isLoopbackHost(r.principal.listenHost), "principal.listen.host is loopback");
        assert.equal(r.principal.insecureAllowNonloopbackHeaderAuth, false, "no override needed, none given");
        const sidecars = objectsOfKind(r.objects, "Sidecar").filter((s) => matchesLabels(s.spec.workloadSelector.labels, podLabels(principal)));
        assert.equal(sidecars.length, 1);
        assert.match(sidecars[0].apiVersion, /^networking\.istio\.io\/v1(beta1)?$/);
        const ingress = sidecars[0].spec.ingress.find((i: KubeManifest) => i.port.number === r.principal.listenPort);
        assert.ok(ingress, "an ingress listener for the gRPC port");
        assert.equal(ingress.defaultEndpoint, `127.0.0.1:${r.principal.listenPort}`);
        assert.equal(ingress.port.protocol, "GRPC");
        // The resource proxy shares the loopback bind; Envoy delivers it as TCP (it is TLS inside the tunnel).
        const rp = sidecars[0].spec.ingress.find((i: KubeManifest) => i.port.number === r.principal.resourceProxyPort);
        assert.ok(rp, "an ingress listener for the resource proxy port");
        assert.equal(rp.defaultEndpoint, `127.0.0.1:${r.principal.resourceProxyPort}`);
        assert.equal(rp.port.protocol, "TCP");
        const redis = sidecars[0].spec.ingress.find((i: KubeManifest) => i.port.number === r.principal.redisProxyPort);
        assert.ok(redis, "an ingress listener for the redis proxy port");
        assert.equal(redis.defaultEndpoint, `127.0.0.1:${r.principal.redisProxyPort}`);
        assert.equal(redis.port.protocol, "TCP", "plain TCP, not Istio's redis protocol");
      });

      it("istio: sidecars injected in both pods, STRICT mTLS for both", () => {
        for (const d of [principal, agent]) {
          const injected = podLabels(d)["sidecar.istio.io/inject"] ?? podAnnotations(d)["sidecar.istio.io/inject"];
          assert.equal(injected, "true", `${d.metadata.name}: sidecar.istio.io/inject`);
          const strict = objectsOfKind(r.objects, "PeerAuthentication").filter(
            (p) => p.spec.mtls?.mode === "STRICT" && matchesLabels(p.spec.selector?.matchLabels, podLabels(d)),
          );
          assert.ok(strict.length >= 1, `${d.metadata.name}: a STRICT PeerAuthentication selects it`);
        }
      });

      it("istio: the gRPC Service port is declared gRPC, and the DestinationRule uses ISTIO_MUTUAL with an idle timeout well above the heartbeat", () => {
        const svc = findObject(r.objects, "Service", "argocd-agent-principal");
        const port = svc.spec.ports.find((p: KubeManifest) => resolvePort(principal, p.targetPort) === r.principal.listenPort);
        assert.equal(port.appProtocol, "grpc");
        assert.match(port.name, /^grpc/);
        const dr = objectsOfKind(r.objects, "DestinationRule").find((x) => x.spec.host === r.agent.serverAddress);
        assert.ok(dr, "a DestinationRule for the address the agent dials");
        assert.equal(dr.spec.trafficPolicy.tls.mode, "ISTIO_MUTUAL");
        const idle = parseDuration(dr.spec.trafficPolicy.connectionPool.http.idleTimeout);
        assert.equal(idle, 300_000);
        assert.ok(r.agent.heartbeatInterval > 0 && r.agent.heartbeatInterval * 2 <= idle, "heartbeat at most half the idle timeout");
      });

      it("istio: the XFCC regex yields the agent's ServiceAccount name as a valid agent ID", () => {
        const sa = podSpec(agent).serviceAccountName;
        const xfcc = `By=spiffe://cluster.local/ns/argocd/sa/argocd-agent-principal;Hash=0a1b;Subject="";URI=spiffe://cluster.local/ns/argocd/sa/${sa}`;
        const result = diagnoseHeaderAuth(r.principal.auth, xfcc);
        assert.ok(result.ok, JSON.stringify(result));
        assert.equal(result.agentId, sa);
      });
    }

    if (overlay === "linkerd") {
      it("linkerd: all interfaces (loopback is unreachable for Linkerd >= 2.11) with the explicit override on the command line", () => {
        assert.ok(!isLoopbackHost(r.principal.listenHost));
        assert.equal(r.flags.principal.insecureAllowNonloopbackHeaderAuth, "true", "--insecure-allow-nonloopback-header-auth=true in args");
        // Without it, the principal refuses to start (fail closed).
        assert.throws(() =>
          validateAuthTlsPairing({ auth: "header", plaintext: true, listenHost: r.principal.listenHost, allowNonLoopbackPlaintext: false }),
        );
      });

      it("linkerd: proxies injected in both pods; the principal admits only authenticated mesh clients", () => {
        for (const d of [principal, agent]) assert.equal(podAnnotations(d)["linkerd.io/inject"], "enabled", d.metadata.name);
        assert.ok(["all-authenticated", "cluster-authenticated", "deny"].includes(podAnnotations(principal)["config.linkerd.io/default-inbound-policy"]));
        const servers = objectsOfKind(r.objects, "Server").filter(
          (s) => matchesLabels(s.spec.podSelector.matchLabels, podLabels(principal)) && resolvePort(principal, s.spec.port) === r.principal.listenPort,
        );
        assert.equal(servers.length, 1, "a Server for the gRPC port");
        assert.equal(servers[0].spec.accessPolicy, "deny");
        assert.equal(servers[0].spec.proxyProtocol, "gRPC", "HTTP/2 handling, so l5d-client-id is set (never opaque)");
        const policies = objectsOfKind(r.objects, "AuthorizationPolicy").filter((p) => p.spec.targetRef.kind === "Server" && p.spec.targetRef.name === servers[0].metadata.name);
        assert.equal(policies.length, 1);
        for (const ref of policies[0].spec.requiredAuthenticationRefs) {
          assert.equal(ref.kind, "MeshTLSAuthentication", "only mTLS-authenticated clients");
          const auth = findObject(r.objects, "MeshTLSAuthentication", ref.name);
          assert.ok(!auth.spec.identities.includes("*"), "not every identity: agent identities");
        }
      });

      it("linkerd: a principal pod without the linkerd-proxy container is refused at admission (fail closed)", () => {
        const vap = objectsOfKind(r.objects, "ValidatingAdmissionPolicy").find((p) => matchesLabels(p.spec.matchConstraints.objectSelector.matchLabels, podLabels(principal)));
        assert.ok(vap, "a ValidatingAdmissionPolicy selects principal pods");
        assert.equal(vap.spec.failurePolicy, "Fail");
        assert.ok(vap.spec.matchConstraints.resourceRules.some((rule: KubeManifest) => rule.resources.includes("pods") && rule.operations.includes("CREATE")));
        assert.ok(vap.spec.validations.some((v: KubeManifest) => v.expression.includes("linkerd-proxy")));
        const binding = objectsOfKind(r.objects, "ValidatingAdmissionPolicyBinding").find((b) => b.spec.policyName === vap.metadata.name);
        assert.ok(binding);
        assert.deepEqual(binding.spec.validationActions, ["Deny"]);
      });

      it("linkerd: the l5d-client-id regex yields the agent's ServiceAccount name; upstream's alternative would not", () => {
        const sa = podSpec(agent).serviceAccountName;
        const id = `${sa}.argocd.serviceaccount.identity.linkerd.cluster.local`;
        const result = diagnoseHeaderAuth(r.principal.auth, id);
        assert.ok(result.ok, JSON.stringify(result));
        assert.equal(result.agentId, sa);
        const upstream = diagnoseHeaderAuth("header:l5d-client-id:^(.+)\\.serviceaccount\\.identity", id);
        assert.equal(upstream.ok, false, "upstream's regex captures <sa>.<ns>, an invalid agent ID");
        // The agent's identity is accepted by the MeshTLSAuthentication.
        const patterns = findObject(r.objects, "MeshTLSAuthentication", "argocd-agent-agents").spec.identities as string[];
        assert.ok(patterns.some((p) => (p.startsWith("*.") ? id.endsWith(p.slice(1)) : id === p)));
      });
    }
  });
}

meshPostureChecks("istio");
meshPostureChecks("linkerd");

describe("manifests: overlays/mtls security posture", () => {
  let r: Rendered;
  before(() => {
    r = render("mtls");
  });

  it("principal: TLS on all interfaces with mtls auth by certificate subject", () => {
    assert.equal(r.principal.insecurePlaintext, false);
    assert.ok(["", "0.0.0.0", "::"].includes(r.principal.listenHost), "all interfaces");
    const auth = parseAuthSetting(r.principal.auth);
    assert.ok(auth instanceof MtlsIdentity);
    const m = matchIdentity(auth.pattern, "CN=agent-a,O=argocd");
    assert.deepEqual(m, { matched: true, agentId: "agent-a" });
    assert.deepEqual(matchIdentity(auth.pattern, "O=CN=admin,CN=agent-a"), { matched: false }, "anchored at the subject's start");
    assert.notEqual(r.principal.tlsSecretName, "");
    assert.notEqual(r.principal.tlsCaSecretName, "");
  });

  it("agent: mtls credentials over verified TLS", () => {
    assert.equal(parseAgentCreds(r.agent.creds).method, "mtls");
    assert.equal(r.agent.insecurePlaintext, false);
    assert.equal(r.agent.insecureTls, false);
    assert.notEqual(r.agent.tlsSecretName, "");
    assert.notEqual(r.agent.rootCaSecretName, "");
  });

  it("the principal Service is a LoadBalancer 443 -> 8443 and no mesh objects are rendered", () => {
    const svc = findObject(r.objects, "Service", "argocd-agent-principal");
    assert.equal(svc.spec.type, "LoadBalancer");
    assert.deepEqual(svc.spec.ports.map((p: KubeManifest) => [p.port, p.targetPort]), [[443, r.principal.listenPort]]);
    const meshKinds = ["PeerAuthentication", "DestinationRule", "Sidecar", "Server", "AuthorizationPolicy", "MeshTLSAuthentication"];
    assert.deepEqual(r.objects.filter((o) => meshKinds.includes(o.kind)), []);
    for (const name of ["argocd-agent-principal", "argocd-agent-agent"]) {
      const a = podAnnotations(deployment(r.objects, name));
      assert.ok(!Object.keys(a).some((k) => k.includes("istio") || k.includes("linkerd")), `${name}: no mesh annotations`);
    }
  });
});

describe("manifests: components/agent-managed", () => {
  it("switches the agent to managed mode and adds exactly the write access managed mode needs", () => {
    const objects = renderComposition(["overlays/istio"], ["components/agent-managed"]);
    const cm = findObject(objects, "ConfigMap", PARAMS_CONFIGMAP).data as Record<string, string>;
    const agent = COMPONENTS[1];
    const values = resolveSettings(AGENT_SETTINGS, {}, containerEnv(deployment(objects, agent), cm)).values;
    assert.equal(values.agentMode, "managed");
    assert.deepEqual(normaliseRules(findObject(objects, "Role", "argocd-agent-agent-managed").rules), normaliseRules([
      { apiGroups: ["argoproj.io"], resources: ["applications", "appprojects"], verbs: ["create", "update", "patch", "delete"] },
      { apiGroups: [""], resources: ["secrets", "configmaps"], verbs: ["create", "update", "patch", "delete"] },
    ]));
    const binding = findObject(objects, "RoleBinding", "argocd-agent-agent-managed");
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "argocd-agent-agent", namespace: NAMESPACE }]);
  });
});

describe("manifests: components/live-resources", () => {
  it("grants the agent read access to everything, the writes of resource actions, pod logs and exec", () => {
    const objects = renderComposition(["overlays/istio"], ["components/live-resources"]);
    const rules = normaliseRules(findObject(objects, "ClusterRole", "argocd-agent-agent-live-resources").rules);
    for (const want of ["*/*:get", "*/*:list", "apps/deployments:patch", "/pods:delete", "batch/jobs:create", "/pods/log:get", "/pods/exec:create"]) {
      assert.ok(rules.includes(want), `missing ${want}`);
    }
    assert.ok(!rules.some((r) => r.startsWith("*/*:") && !/:(get|list|watch)$/.test(r)), "no write on everything");
    assert.ok(!rules.some((r) => r.startsWith("/secrets:") && !/:(get|list|watch)$/.test(r)), "no write on Secrets");
    const binding = findObject(objects, "ClusterRoleBinding", "argocd-agent-agent-live-resources");
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "argocd-agent-agent", namespace: NAMESPACE }]);
  });
});
