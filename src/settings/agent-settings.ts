/**
 * Every setting of `argocd-agent agent`, declared once. Flags, env vars and
 * ConfigMap keys follow upstream argocd-agent (cmd/argocd-agent/agent.go);
 * `extension: true` marks our additions, `unsupported` what is not implemented yet.
 */
import { define, envOnlyKnobs, logSettings, notYet } from "./define.ts";

const s = define("ARGOCD_AGENT_", "agent.");
const TLS_VERSIONS = ["", "tls1.1", "tls1.2", "tls1.3"];

export const AGENT_SETTINGS = [
  s("server-address", "REMOTE_SERVER", "server.address", "string", "", "Address of the principal; required"),
  s("server-port", "REMOTE_PORT", "server.port", "port", "443", "Port of the principal"),
  ...logSettings(s),
  s("full-detail", "FULL_DETAIL", undefined, "list", "", "Extra log detail categories: all, actions, events, informers", { unsupported: notYet("extra log detail categories") }),
  s("redis-addr", "REDIS_ADDR", "redis.address", "string", "argocd-redis:6379", "Address (host:port) of the local Argo CD redis, which answers the principal's redis proxy and holds the cluster cache counts", { verbatimEnv: true }),
  s("redis-creds-dir-path", "REDIS_CREDS_DIR_PATH", undefined, "path", "", "Directory holding Redis credentials (auth_username, auth)", { verbatimEnv: true }),
  s("redis-username", "REDIS_USERNAME", undefined, "string", "", "Redis user name", { verbatimEnv: true }),
  s("redis-password", "REDIS_PASSWORD", undefined, "string", "", "Redis password", { verbatimEnv: true }),
  s("redis-tls-enabled", "REDIS_TLS_ENABLED", "redis.tls.enabled", "bool", "false", "Use TLS towards Redis"),
  s("redis-tls-ca-path", "REDIS_TLS_CA_PATH", "redis.tls.ca-path", "path", "", "PEM file of the CA of Redis's certificate"),
  s("redis-tls-ca-secret-name", "REDIS_TLS_CA_SECRET_NAME", undefined, "string", "argocd-redis-tls", "Secret holding the CA of Redis's certificate"),
  s("redis-tls-insecure", "REDIS_TLS_INSECURE", "redis.tls.insecure", "bool", "false", "INSECURE: do not verify Redis's certificate"),
  s("insecure-tls", "TLS_INSECURE", "tls.client.insecure", "bool", "false", "INSECURE: do not verify the principal's certificate"),
  s("insecure-plaintext", "INSECURE_PLAINTEXT", "tls.insecure-plaintext", "bool", "false", "Talk to the principal without TLS (to a local mesh sidecar)"),
  s("namespace", "NAMESPACE", "namespace", "string", "argocd", "Namespace the agent runs in and manages Applications in", { short: "n" }),
  s("agent-mode", "MODE", "mode", "enum", "autonomous", "Mode of operation", { choices: ["autonomous", "managed"] }),
  s("creds", "CREDS", "creds", "string", "", "Credentials: header: (mesh), mtls:<any> or userpass:<file> (deprecated)"),
  s("root-ca-secret-name", "TLS_ROOT_CA_SECRET_NAME", "tls.root-ca-secret-name", "string", "argocd-agent-ca", "Secret holding the CA the principal's certificate is verified against"),
  s("root-ca-path", "TLS_ROOT_CA_PATH", "tls.root-ca-path", "path", "", "PEM file of that CA (overrides the secret)"),
  s("tls-secret-name", "TLS_SECRET_NAME", "tls.secret-name", "string", "argocd-agent-client-tls", "Secret holding the agent's client certificate (tls.crt, tls.key)"),
  s("tls-client-cert", "TLS_CLIENT_CERT_PATH", "tls.client.cert-path", "path", "", "PEM file of the client certificate (with --tls-client-key)"),
  s("tls-client-key", "TLS_CLIENT_KEY_PATH", "tls.client.key-path", "path", "", "PEM file of the client key (with --tls-client-cert)"),
  s("tls-min-version", "TLS_MIN_VERSION", "tls.min-version", "enum", "", "Lowest TLS version accepted (empty: library default)", { choices: TLS_VERSIONS }),
  s("tls-max-version", "TLS_MAX_VERSION", "tls.max-version", "enum", "", "Highest TLS version accepted (empty: library default)", { choices: TLS_VERSIONS }),
  s("tls-ciphersuites", "TLS_CIPHERSUITES", "tls.ciphersuites", "list", "", "TLS cipher suites by Go name; 'list' prints the supported ones"),
  s("enable-websocket", "ENABLE_WEBSOCKET", "websocket.enable", "bool", "false", "Carry each gRPC call over its own WebSocket (grpc-ws, HTTP/1.1) for proxies without HTTP/2; the principal needs --enable-websocket"),
  s("metrics-port", "METRICS_PORT", "metrics.port", "port", "8181", "Port of the Prometheus metrics endpoint", { zero: "disabled" }),
  s("healthz-port", "HEALTH_CHECK_PORT", "healthz.port", "port", "8001", "Port of the /healthz and /readyz endpoints", { zero: "disabled" }),
  s("keep-alive-ping-interval", "KEEP_ALIVE_PING_INTERVAL", "keep-alive.interval", "duration", "0", "Interval of HTTP/2 keepalive pings to the principal (0: off)"),
  s("enable-compression", "ENABLE_COMPRESSION", "compression.enable", "bool", "false", "Compress gRPC messages with gzip"),
  s("pprof-port", "PPROF_PORT", "pprof.port", "port", "0", "Port of the profiling endpoint on 127.0.0.1 (/debug/pprof/: V8 heap snapshot, CPU profile; Node's equivalents of Go's pprof)", { zero: "disabled" }),
  s("enable-resource-proxy", "ENABLE_RESOURCE_PROXY", "resource-proxy.enable", "bool", "true", "Answer the principal's resource-proxy requests against this cluster's API server (this agent's RBAC decides what is allowed)"),
  s("cache-refresh-interval", "CACHE_REFRESH_INTERVAL", undefined, "duration", "10s", "Interval at which a managed agent reports its Argo CD's cluster cache counts to the principal (must be > 0)"),
  s("informer-sync-timeout", "INFORMER_SYNC_TIMEOUT", "informer-sync-timeout", "duration", "10s", "How long to wait for informers to sync at start"),
  s("buffer-informer-event-interval", "BUFFER_INFORMER_EVENT_INTERVAL", undefined, "duration", "0", "At most one Application update sent per Application per interval; later ones in the interval are folded into one sent when it ends (0: off)"),
  s("heartbeat-interval", "HEARTBEAT_INTERVAL", "heartbeat.interval", "duration", "0", "Interval of application-level heartbeats on the event stream; keep it below the mesh idle timeout (0: off)"),
  s("grpc-max-message-size", "GRPC_MAX_MESSAGE_SIZE", undefined, "int", "209715200", "Largest gRPC message sent or received, in bytes", { min: 1 }),
  s("otlp-address", "OTLP_ADDRESS", undefined, "string", "", "OpenTelemetry collector address (host:port, OTLP/gRPC) for traces; empty: tracing off"),
  s("otlp-insecure", "OTLP_INSECURE", undefined, "bool", "false", "Talk to the OTLP collector without TLS"),
  s("destination-based-mapping", "DESTINATION_BASED_MAPPING", "destination-based-mapping", "bool", "false", "Keep Applications in their original namespaces (destination-based mapping on the principal; managed mode only)"),
  s("create-namespace", "CREATE_NAMESPACE", "create-namespace", "bool", "false", "Create missing Application namespaces (requires --destination-based-mapping)"),
  s("ignore-unmanaged-apps", "IGNORE_UNMANAGED_APPS", undefined, "bool", "false", "Do not watch local Applications the principal did not create (no source UID); managed mode only"),
  s("source-uid-mismatch-policy", "SOURCE_UID_MISMATCH_POLICY", undefined, "enum", "recreate", "What to do when an Application's source UID changed", { choices: ["recreate", "upsert"] }),
  s("on-application-recreate", "ON_APPLICATION_RECREATE", undefined, "enum", "ignore", "What to do with status when an Application is recreated", { choices: ["ignore", "clear-status", "resync"] }),
  s("allowed-namespaces", "ALLOWED_NAMESPACES", "allowed-namespaces", "list", "", "Extra namespaces (globs or /regexp/) Applications may live in, besides --namespace; used with --destination-based-mapping"),
  s("label-selector", "LABEL_SELECTOR", "label-selector", "string", "", "Only replicate Applications matching this Kubernetes label selector"),
  s("adoption-policy", "ADOPTION_POLICY", undefined, "enum", "always", "Adopt a local Application without source UID that the principal creates (always), or report an error (never); per-object annotation argocd.argoproj.io/adoption-policy wins", { choices: ["always", "never"] }),
  s("kubeconfig", undefined, undefined, "path", "", "Kubeconfig file of the workload cluster (empty: in-cluster)"),
  s("kubecontext", undefined, undefined, "string", "", "Context in the kubeconfig to use"),
  s("resync-interval", "RESYNC_INTERVAL", undefined, "duration", "5m", "Interval of the periodic resync of replicated resources with the peer, on top of the resync at connect (0: only at connect)", { extension: true }),
  s("protocol-version", "PROTOCOL_VERSION", undefined, "string", "0.9.0", "Version sent to the principal; a Go principal demands its own exact version (see its `argocd-agent version --short`)", { extension: true }),
  ...envOnlyKnobs(),
] as const;
