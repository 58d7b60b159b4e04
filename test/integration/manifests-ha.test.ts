/**
 * manifests/components/ha on each overlay, rendered with kustomize: the
 * principal gets its ARGOCD_PRINCIPAL_HA_* env from ConfigMap
 * argocd-agent-ha-params and resolves to an HA primary that passes the HA
 * start-up checks; liveness moves to /livez while readiness stays /readyz,
 * both on the health port; the HA admin port is published nowhere (it stays on
 * the pod's loopback, for `ctl ha` through a port-forward); the health port is
 * published for the GSLB and admitted from anywhere, and only it; nothing
 * else changes. The replica example in the component's comment, pasted into an
 * overlay, gives a valid replica. And the probe paths are what a real passive
 * principal answers: /livez 200 (alive), /readyz 503 (not ready).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { validateHaSettings } from "../../src/ha/principal-ha.ts";
import { PRINCIPAL_SETTINGS } from "../../src/settings/principal-settings.ts";
import { resolveSettings } from "../../src/settings/resolve.ts";
import { freePort, principalDevArgs, start, type Running } from "../support/processes.ts";
import {
  findObject, kustomizeBuild, MANIFESTS_DIR, objectsOfKind, OVERLAYS, parseManifests, renderComposition, type KubeManifest,
} from "../support/kustomize.ts";

const COMPONENT = "components/ha";
const HA_CM = "argocd-agent-ha-params";
const PRINCIPAL = "argocd-agent-principal";

function principalContainer(objects: KubeManifest[]) {
  return findObject(objects, "Deployment", PRINCIPAL).spec.template.spec.containers[0];
}

/** The principal container's env as the kubelet builds it from the rendered ConfigMaps (literal values too). */
function principalEnv(objects: KubeManifest[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of principalContainer(objects).env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    const ref = e.valueFrom?.configMapKeyRef;
    if (!ref) continue;
    const data = (findObject(objects, "ConfigMap", ref.name).data ?? {}) as Record<string, string>;
    if (ref.key in data) env[e.name] = data[ref.key];
    else assert.equal(ref.optional, true, `env ${e.name} refers to missing key ${ref.name}/${ref.key}`);
  }
  return env;
}

function principalValues(objects: KubeManifest[]) {
  return resolveSettings(PRINCIPAL_SETTINGS, {}, principalEnv(objects)).values;
}

const named = (o: KubeManifest) => `${o.kind}/${o.metadata.name}`;

for (const overlay of OVERLAYS) {
  describe(`manifests: overlays/${overlay} + components/ha`, () => {
    let objects: KubeManifest[];
    let without: KubeManifest[];
    before(() => {
      objects = renderComposition([`overlays/${overlay}`], [COMPONENT]);
      without = renderComposition([`overlays/${overlay}`]);
    });

    it("the principal resolves to an HA primary from argocd-agent-ha-params and passes the HA start-up checks", () => {
      const haEnv = (principalContainer(objects).env as KubeManifest[]).filter((e) => e.name.startsWith("ARGOCD_PRINCIPAL_HA_"));
      assert.deepEqual(haEnv.map((e) => e.name).sort(), [
        "ARGOCD_PRINCIPAL_HA_ALLOWED_REPLICATION_CLIENTS", "ARGOCD_PRINCIPAL_HA_ENABLED", "ARGOCD_PRINCIPAL_HA_PEER_ADDRESS", "ARGOCD_PRINCIPAL_HA_PREFERRED_ROLE",
      ]);
      for (const e of haEnv) {
        assert.equal(e.valueFrom.configMapKeyRef.name, HA_CM, e.name);
        assert.notEqual(e.valueFrom.configMapKeyRef.optional, true, `${e.name}: an HA principal must not start without it`);
      }
      const v = principalValues(objects);
      assert.equal(v.haEnabled, true);
      assert.equal(v.haPreferredRole, "primary");
      assert.equal(v.haPeerAddress, "");
      assert.deepEqual(v.haAllowedReplicationClients, ["argocd-agent-principal"], "never empty: any authenticated agent could replicate");
      assert.equal(v.haAdminPort, 0, "admin port left at its default (8405, what ctl ha port-forwards to)");
      assert.doesNotThrow(() => validateHaSettings(v));
      const cm = findObject(objects, "ConfigMap", HA_CM);
      assert.equal(cm.metadata.namespace, "argocd");
      assert.equal(cm.metadata.labels?.["app.kubernetes.io/component"], "principal");
      assert.equal(cm.metadata.labels?.["app.kubernetes.io/part-of"], "argocd-agent");
    });

    it("liveness on /livez, readiness on /readyz, both on the health port", () => {
      const c = principalContainer(objects);
      const { healthzPort } = principalValues(objects);
      assert.equal(c.livenessProbe.httpGet.path, "/livez");
      assert.equal(c.readinessProbe.httpGet.path, "/readyz");
      assert.equal(c.livenessProbe.httpGet.port, healthzPort);
      assert.equal(c.readinessProbe.httpGet.port, healthzPort);
      const before = principalContainer(without);
      assert.equal(c.livenessProbe.periodSeconds, before.livenessProbe.periodSeconds, "timings unchanged");
      assert.equal(c.livenessProbe.failureThreshold, before.livenessProbe.failureThreshold);
    });

    it("the HA admin port is published nowhere: no container port, Service port or NetworkPolicy rule for 8405", () => {
      const c = principalContainer(objects);
      assert.ok(!(c.ports as KubeManifest[]).some((p) => p.containerPort === 8405));
      for (const s of objectsOfKind(objects, "Service")) {
        assert.ok(!(s.spec.ports as KubeManifest[]).some((p) => p.port === 8405 || p.targetPort === 8405), named(s));
      }
      for (const np of objectsOfKind(objects, "NetworkPolicy")) {
        for (const rule of np.spec.ingress ?? []) assert.ok(!(rule.ports ?? []).some((p: KubeManifest) => p.port === 8405), named(np));
      }
    });

    it("publishes the health port for the GSLB (LoadBalancer Service, admitted from anywhere) and only that port", () => {
      const { healthzPort } = principalValues(objects);
      const svc = findObject(objects, "Service", "argocd-agent-principal-healthz");
      assert.equal(svc.spec.type, "LoadBalancer");
      assert.deepEqual(svc.spec.ports.map((p: KubeManifest) => p.targetPort), [healthzPort]);
      assert.deepEqual(svc.spec.selector, { "app.kubernetes.io/name": PRINCIPAL });
      const np = findObject(objects, "NetworkPolicy", "argocd-agent-principal-healthz");
      assert.deepEqual(np.spec.podSelector, { matchLabels: { "app.kubernetes.io/name": PRINCIPAL } });
      assert.deepEqual(np.spec.ingress, [{ ports: [{ port: healthzPort, protocol: "TCP" }] }], "any source, health port only");
    });

    it("changes nothing else: same objects plus the ConfigMap and the NetworkPolicy; the agent untouched", () => {
      assert.deepEqual(objects.map(named).filter((n) => !without.map(named).includes(n)).sort(), [
        `ConfigMap/${HA_CM}`, "NetworkPolicy/argocd-agent-principal-healthz",
      ]);
      const changed = objects.filter((o) => {
        const old = without.find((w) => named(w) === named(o));
        return old && JSON.stringify(old) !== JSON.stringify(o);
      }).map(named);
      assert.deepEqual(changed.sort(), [`Deployment/${PRINCIPAL}`, "Service/argocd-agent-principal-healthz"]);
    });
  });
}

describe("manifests: components/ha replica example", () => {
  it("the commented patch, pasted into an overlay, gives a replica following the peer", () => {
    const lines = readFileSync(join(MANIFESTS_DIR, COMPONENT, "kustomization.yaml"), "utf8").split("\n");
    const startAt = lines.findIndex((l) => l.trim() === "#   patches:");
    assert.ok(startAt > 0, "the example starts with '#   patches:'");
    const example: string[] = [];
    for (const l of lines.slice(startAt)) {
      if (!l.startsWith("#  ")) break;
      example.push(l.slice(2));
    }
    const { patches } = parseYaml(example.join("\n")) as { patches: unknown[] };
    const dir = mkdtempSync(join(tmpdir(), "argocd-agent-kustomize-"));
    let objects: KubeManifest[];
    try {
      const rel = (p: string) => relative(dir, join(MANIFESTS_DIR, p));
      writeFileSync(join(dir, "kustomization.yaml"), JSON.stringify({
        apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization",
        resources: [rel("overlays/mtls")], components: [rel(COMPONENT)], patches,
      }));
      objects = parseManifests(kustomizeBuild(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const v = principalValues(objects);
    assert.equal(v.haEnabled, true);
    assert.equal(v.haPreferredRole, "replica");
    assert.equal(v.haPeerAddress, "principal.region-a.example.com:443");
    assert.doesNotThrow(() => validateHaSettings(v));
    assert.throws(() => validateHaSettings({ ...v, haPeerAddress: "" }), /--ha-peer-address/, "a replica without its peer does not start");
  });
});

describe("manifests: components/ha probes against a real passive principal", () => {
  let principal: Running;
  let healthz: number;
  before(async () => {
    healthz = await freePort();
    // A replica whose peer never answers stays passive (syncing).
    principal = start([...principalDevArgs(healthz), "--ha-enabled", "--ha-preferred-role", "replica", "--ha-peer-address", `127.0.0.1:${await freePort()}`, "--ha-admin-port", String(await freePort())]);
    await principal.waitFor(/principal started/, 30_000);
  });
  after(async () => {
    await principal?.stop();
  });

  it("the liveness path answers 200 (alive, no restart), the readiness path 503 (no agent traffic)", async () => {
    const c = principalContainer(renderComposition(["overlays/mtls"], [COMPONENT]));
    const live = await fetch(`http://127.0.0.1:${healthz}${c.livenessProbe.httpGet.path}`);
    assert.equal(live.status, 200);
    const ready = await fetch(`http://127.0.0.1:${healthz}${c.readinessProbe.httpGet.path}`);
    assert.equal(ready.status, 503);
    const gslb = await fetch(`http://127.0.0.1:${healthz}/healthz`);
    assert.equal(gslb.status, 503, "the GSLB sends no agents here");
    assert.match(gslb.headers.get("x-ha-state") ?? "", /^(syncing|recovering|disconnected)$/);
  });
});
