/**
 * JSON payload shapes of the non-object events (wire-protocol.md §6, §9), with
 * the exact JSON keys Go uses. Optional members are Go `omitempty` fields:
 * leave them out rather than sending empty values. Resync payloads live in
 * resync.ts with their encoders, because their checksums need conversion.
 *
 * @example
 *   const res: ResourceResponse = { uuid: req.uuid, status: 200, resource: JSON.stringify(obj) };
 *   responseEvent(EventTypes.response, EventTargets.resource, res, EventSources.agent, req.uuid);
 */

/** `GET`/`POST`/`PATCH`/`DELETE` on dataschema `resource`, principal → agent. */
export interface ResourceRequest {
  uuid: string;
  namespace?: string;
  name: string;
  subresource?: string;
  method?: "GET" | "POST" | "PATCH" | "DELETE";
  /** Standard padded base64 of the request body. */
  body?: string;
  params?: Record<string, string>;
  /** Group/version/resource, flattened into the object and always present. */
  group: string;
  version: string;
  resource: string;
}

/** `…response` on dataschema `resource`, agent → principal; eventid = request uuid. */
export interface ResourceResponse {
  uuid: string;
  /** HTTP status; 200 on success. */
  status: number;
  /** JSON text of the object or list. */
  resource?: string;
}

/** `…redis-request`, principal → agent: exactly one body member is set. */
export interface RedisRequest {
  uuid: string;
  connectionUuid: string;
  body: { get?: { key: string }; subscribe?: { channel: string }; ping?: Record<string, never> };
}

/** `…redis-response`, agent → principal; uuid = request uuid. Exactly one body member is set. */
export interface RedisResponse {
  uuid: string;
  connectionUuid: string;
  body: {
    /** `bytes` is padded base64 (or null). */
    get?: { bytes: string | null; cacheHit: boolean; error: string };
    subscribeResponse?: { error: string };
    pushFromSubscribe?: { channelName: string };
    pong?: Record<string, never>;
  };
}

/** `GET` on dataschema `containerlog`, principal → agent; logs then flow over LogStreamService. */
export interface ContainerLogRequest {
  uuid: string;
  namespace: string;
  podName: string;
  container?: string;
  follow?: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  sinceTime?: string;
  timestamps?: boolean;
  previous?: boolean;
  insecureSkipTLSVerifyBackend?: boolean;
  limitBytes?: number;
}

/** `…terminal-request` on dataschema `terminal`, principal → agent. */
export interface ContainerTerminalRequest {
  uuid: string;
  namespace: string;
  podName: string;
  containerName: string;
  command?: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** `…error` on dataschema `application`, managed agent → principal. */
export interface ErrorData {
  resourceName: string;
  resourceNamespace: string;
  message: string;
}

/** `…cluster-cache-info-update`, managed agent → principal, every cache refresh interval. */
export interface ClusterCacheInfo {
  applicationsCount: number;
  apisCount: number;
  resourcesCount: number;
}
