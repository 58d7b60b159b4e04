/**
 * A gRPC peer that never reads: it authenticates (header identity), opens a
 * Subscribe stream over raw node:http2 with a zero initial stream window, so the
 * principal cannot send it a single DATA byte, and then sends heartbeats as fast
 * as its own connection lets it. Every heartbeat asks the principal for an ack
 * that cannot be delivered. Run as its own process by the tests and the bench.
 *
 * Prints JSON lines on stdout: {"subscribed":true}, then {"heartbeats":n} every
 * second, and at the end {"done":true,"heartbeats":n,"closedBy":"server"|"client",
 * "rstCode":n|null}. Ends after --seconds, or as soon as the principal closes the stream.
 *
 * Usage: node test/support/non-reading-client.ts --port N --agent NAME [--seconds 20]
 */
import { connect, constants } from "node:http2";
import { parseArgs } from "node:util";
import { credentials, Metadata } from "@grpc/grpc-js";
import { AuthenticationClient, type AuthResponse } from "../../src/proto/gen/auth.ts";
import { Event } from "../../src/proto/gen/eventstream.ts";
import { heartbeatEvent } from "../../src/events/ack.ts";
import { toWire } from "../../src/events/cloudevent.ts";
import { closedOrDrained } from "./transport-abuse.ts";

const { values } = parseArgs({ options: { port: { type: "string" }, agent: { type: "string" }, seconds: { type: "string", default: "20" } } });
const port = Number(values.port);
const print = (o: object) => process.stdout.write(JSON.stringify(o) + "\n");

async function authenticate(): Promise<string> {
  const client = new AuthenticationClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const md = new Metadata();
  md.set("x-agent-id", values.agent!);
  try {
    const res = await new Promise<AuthResponse>((resolve, reject) =>
      client.authenticate({ method: "header", credentials: {}, mode: "managed", version: "0.9.0", agentNamespace: "argocd" }, md, (err, r) => (err ? reject(err) : resolve(r))),
    );
    return res.accessToken;
  } finally {
    client.close();
  }
}

function frame(): Buffer {
  const body = Event.encode({ event: toWire(heartbeatEvent("agent://agent-managed")) }).finish();
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  Buffer.from(body).copy(out, 5);
  return out;
}

const token = await authenticate();
const session = connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 0 } });
session.on("error", () => {});
const req = session.request({
  ":method": "POST",
  ":path": "/eventstreamapi.EventStream/Subscribe",
  "content-type": "application/grpc",
  te: "trailers",
  authorization: token,
});
req.on("error", () => {});
let heartbeats = 0;
let closedBy: "server" | "client" | undefined;
req.once("response", () => print({ subscribed: true }));
req.once("close", () => (closedBy ??= "server"));
const deadline = Date.now() + Number(values.seconds) * 1000;
const progress = setInterval(() => print({ heartbeats }), 1000);
while (Date.now() < deadline && !closedBy) {
  if (!req.write(frame())) await closedOrDrained(req);
  heartbeats++;
  if (heartbeats % 200 === 0) await new Promise((r) => setImmediate(r));
}
clearInterval(progress);
const rstCode = closedBy ? req.rstCode ?? null : null;
closedBy ??= "client";
print({ done: true, heartbeats, closedBy, rstCode, enhanceYourCalm: rstCode === constants.NGHTTP2_ENHANCE_YOUR_CALM });
req.close();
session.destroy();
