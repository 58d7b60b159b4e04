// Value parsing and precedence of settings: flag > env > default, strict errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseBool, parseDuration, parseLogLevels, splitCsv, splitEnvList, parseKvList } from "../../src/settings/parse-values.ts";
import { resolveSettings } from "../../src/settings/resolve.ts";
import { PRINCIPAL_SETTINGS } from "../../src/settings/principal-settings.ts";
import { AGENT_SETTINGS } from "../../src/settings/agent-settings.ts";
import { SettingsError } from "../../src/settings/types.ts";

test("durations follow Go's time.ParseDuration", () => {
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("1.5h"), 5_400_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("1h20m10s"), 4_810_000);
  for (const bad of ["30", "abc", "1d", "", "s", "-5s", "1.5.5s"]) assert.throws(() => parseDuration(bad), RangeError, bad);
});

test("booleans follow Go's strconv.ParseBool", () => {
  for (const t of ["1", "t", "T", "true", "TRUE", "True"]) assert.equal(parseBool(t), true);
  for (const f of ["0", "f", "F", "false", "FALSE", "False"]) assert.equal(parseBool(f), false);
  for (const bad of ["yes", "on", "", "tRuE"]) assert.throws(() => parseBool(bad), RangeError);
});

test("lists: env splits and trims, flags are CSV with quotes", () => {
  assert.deepEqual(splitEnvList(" a, b ,c"), ["a", "b", "c"]);
  assert.deepEqual(splitEnvList(""), []);
  assert.deepEqual(splitCsv('a,"b,c", d'), ["a", "b,c", " d"]);
  assert.throws(() => splitCsv('"open'), RangeError);
  assert.deepEqual(parseKvList(["team=a", "env = prod"]), { team: "a", env: "prod" });
  assert.throws(() => parseKvList(["novalue"]), /key=value/);
});

test("log levels: bare level, per component, warn alias, unknown names refused", () => {
  assert.deepEqual(parseLogLevels(["info", "grpc-event=debug"], []), { defaultLevel: "info", levels: { "grpc-event": "debug" } });
  assert.equal(parseLogLevels(["warn"], []).defaultLevel, "warning");
  assert.equal(parseLogLevels(["WARNING"], []).defaultLevel, "warning");
  assert.throws(() => parseLogLevels(["verbose"], []), /unknown log level "verbose"/);
  assert.throws(() => parseLogLevels(["nosuch=debug"], []), /unknown log component "nosuch"/);
});

test("precedence is flag > env > default", () => {
  const env = { ARGOCD_PRINCIPAL_LISTEN_PORT: "9000", ARGOCD_PRINCIPAL_NAMESPACE: "argocd" };
  const fromEnv = resolveSettings(PRINCIPAL_SETTINGS, {}, env);
  assert.equal(fromEnv.values.listenPort, 9000);
  assert.equal(fromEnv.sources.listenPort, "env");
  const fromFlag = resolveSettings(PRINCIPAL_SETTINGS, { listenPort: "9100" }, env);
  assert.equal(fromFlag.values.listenPort, 9100);
  assert.equal(fromFlag.sources.listenPort, "flag");
  const defaults = resolveSettings(PRINCIPAL_SETTINGS, {}, {});
  assert.equal(defaults.values.listenPort, 8443);
  assert.equal(defaults.values.tlsMinVersion, "tls1.3");
  assert.equal(defaults.values.grpcMaxMessageSize, 209715200);
  assert.equal(defaults.values.keepaliveMinInterval, 0);
});

test("typed values: lists, kv lists, regexes, durations, bools", () => {
  const { values } = resolveSettings(
    PRINCIPAL_SETTINGS,
    { allowedNamespaces: ["a", "b*"], insecurePlaintext: "true" },
    {
      ARGOCD_PRINCIPAL_NAMESPACE_CREATE_LABELS: "team=x, tier=edge",
      ARGOCD_PRINCIPAL_NAMESPACE_CREATE_PATTERN: "^agent-.*$",
      ARGOCD_PRINCIPAL_KEEP_ALIVE_MIN_INTERVAL: "1m30s",
    },
  );
  assert.deepEqual(values.allowedNamespaces, ["a", "b*"]);
  assert.equal(values.insecurePlaintext, true);
  assert.deepEqual(values.namespaceCreateLabels, { team: "x", tier: "edge" });
  assert.ok(values.namespaceCreatePattern instanceof RegExp && values.namespaceCreatePattern.test("agent-1"));
  assert.equal(values.keepaliveMinInterval, 90_000);
});

test("empty env values of non-string settings count as unset; strings stay empty", () => {
  const { values, sources } = resolveSettings(AGENT_SETTINGS, {}, { ARGOCD_AGENT_REMOTE_PORT: "", ARGOCD_AGENT_NAMESPACE: "" });
  assert.equal(values.serverPort, 443);
  assert.equal(sources.serverPort, "default");
  assert.equal(values.namespace, "");
});

test("invalid values are errors naming the flag or env var, the value and what is accepted", () => {
  const cases: [Record<string, unknown>, Record<string, string>, RegExp][] = [
    [{ listenPort: "70000" }, {}, /invalid value "70000" for --listen-port .*1-65535/],
    [{}, { ARGOCD_PRINCIPAL_LISTEN_PORT: "http" }, /invalid value "http" for environment variable ARGOCD_PRINCIPAL_LISTEN_PORT/],
    [{}, { ARGOCD_PRINCIPAL_KEEP_ALIVE_MIN_INTERVAL: "5" }, /ARGOCD_PRINCIPAL_KEEP_ALIVE_MIN_INTERVAL.*duration/],
    [{ logFormat: "xml" }, {}, /--log-format.*expected one of: text, json/],
    [{}, { ARGOCD_PRINCIPAL_NAMESPACE_CREATE_PATTERN: "([a-z" }, /NAMESPACE_CREATE_PATTERN.*invalid regular expression/],
    [{ insecurePlaintext: "yes" }, {}, /--insecure-plaintext.*boolean/],
    [{}, { ARGOCD_PRINCIPAL_EVENT_PROCESSORS: "0" }, /EVENT_PROCESSORS.*>= 1/],
    [{}, { ARGOCD_AGENT_SEND_QUEUE_SIZE: "-1" }, /ARGOCD_AGENT_SEND_QUEUE_SIZE.*>= 1/],
  ];
  for (const [flags, env, re] of cases) {
    assert.throws(() => resolveSettings(PRINCIPAL_SETTINGS, flags, env), (err: Error) => {
      assert.ok(err instanceof SettingsError, err.message);
      assert.match(err.message, re);
      return true;
    });
  }
});

test("a not-yet-implemented feature set to a non-default value is refused, the default is accepted", () => {
  assert.throws(() => resolveSettings(PRINCIPAL_SETTINGS, { fullDetail: "all" }, {}), /--full-detail is not supported yet/);
  assert.throws(() => resolveSettings(AGENT_SETTINGS, {}, { ARGOCD_AGENT_FULL_DETAIL: "events" }), /ARGOCD_AGENT_FULL_DETAIL/);
  // Implemented since issue 21: accepted on both sides.
  assert.equal(resolveSettings(PRINCIPAL_SETTINGS, { enableWebsocket: "true" }, {}).values.enableWebsocket, true);
  assert.equal(resolveSettings(AGENT_SETTINGS, {}, { ARGOCD_AGENT_ENABLE_WEBSOCKET: "true" }).values.enableWebsocket, true);
  // HA is implemented (src/ha/): its seven settings are accepted; bad values are still refused by name.
  const ha = resolveSettings(PRINCIPAL_SETTINGS, { haPreferredRole: "replica", haPeerAddress: "peer:8443", haAdminPort: "9405" }, {
    ARGOCD_PRINCIPAL_HA_ENABLED: "1",
    ARGOCD_PRINCIPAL_HA_FAILOVER_TIMEOUT: "1m",
    ARGOCD_PRINCIPAL_HA_ALLOWED_REPLICATION_CLIENTS: "principal-b,principal-c",
    ARGOCD_PRINCIPAL_HA_REPLICATION_INITIAL_ACK_TIMEOUT: "30s",
  }).values;
  assert.deepEqual(
    [ha.haEnabled, ha.haPreferredRole, ha.haPeerAddress, ha.haFailoverTimeout, ha.haAdminPort, ha.haAllowedReplicationClients, ha.haReplicationInitialAckTimeout],
    [true, "replica", "peer:8443", 60_000, 9405, ["principal-b", "principal-c"], 30_000],
  );
  assert.throws(() => resolveSettings(PRINCIPAL_SETTINGS, { haPreferredRole: "leader" }, {}), /--ha-preferred-role/);
  assert.throws(() => resolveSettings(PRINCIPAL_SETTINGS, {}, { ARGOCD_PRINCIPAL_HA_FAILOVER_TIMEOUT: "-5s" }), /ARGOCD_PRINCIPAL_HA_FAILOVER_TIMEOUT.*negative/);
  assert.doesNotThrow(() => resolveSettings(PRINCIPAL_SETTINGS, { enableWebsocket: "false", haEnabled: "false" }, {}));
});
