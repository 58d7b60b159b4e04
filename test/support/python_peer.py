"""An independent agent peer written against the .proto files only (Python grpcio),
so the principal is checked against a second gRPC implementation and not only
against our own TypeScript client.

It does what a Go agent behind a mesh sidecar does, by hand:
  1. Authenticate (method "header", mode "managed", version "0.9.0", empty
     credentials); the identity header is set in the call metadata, as the
     sidecar would inject it;
  2. Version, with the access token in `authorization` (raw JWT, no "Bearer");
  3. Subscribe with the token, send one heartbeat CloudEvent built as the Go
     agent builds it, and wait for the principal's ack.

Prints one JSON object on stdout: {"ok": true, ...facts...} or {"ok": false, "error": ...}.

Usage: python3 python_peer.py --stubs DIR --port N --header-name x-agent-id --header-value agent-py
"""
import argparse
import base64
import json
import queue
import sys
import uuid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stubs", required=True, help="directory with the generated *_pb2*.py modules")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--header-name", required=True)
    ap.add_argument("--header-value", required=True)
    ap.add_argument("--timeout", type=float, default=15.0)
    args = ap.parse_args()

    sys.path.insert(0, args.stubs)
    import grpc
    import auth_pb2
    import auth_pb2_grpc
    import cloudevent_pb2
    import eventstream_pb2
    import eventstream_pb2_grpc
    import version_pb2
    import version_pb2_grpc

    out = {"ok": False}
    channel = grpc.insecure_channel("127.0.0.1:%d" % args.port)
    try:
        auth = auth_pb2_grpc.AuthenticationStub(channel)
        res = auth.Authenticate(
            auth_pb2.AuthRequest(method="header", mode="managed", version="0.9.0", agentNamespace="argocd"),
            metadata=[(args.header_name, args.header_value)],
            timeout=args.timeout,
        )
        token = res.accessToken
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        out["sub"] = json.loads(claims["sub"])
        out["principalNamespace"] = res.principalNamespace
        out["principalVersion"] = res.version
        out["hasRefreshToken"] = res.refreshToken != ""

        md = [("authorization", token)]
        out["version"] = version_pb2_grpc.VersionStub(channel).Version(
            version_pb2.VersionRequest(), metadata=md, timeout=args.timeout
        ).version

        # The Go agent's heartbeat: empty id, agent source, dataschema as ce_uri,
        # resourceid/eventid as ce_string (one fresh UUID), empty binary_data.
        ping_id = str(uuid.uuid4())
        ce = cloudevent_pb2.CloudEvent(
            id="",
            source="agent://agent-managed",
            spec_version="1.0",
            type="io.argoproj.argocd-agent.event.ping",
            binary_data=b"",
        )
        ce.attributes["dataschema"].ce_uri = "heartbeat"
        ce.attributes["resourceid"].ce_string = ping_id
        ce.attributes["eventid"].ce_string = ping_id
        out["sentEventId"] = ping_id

        # Keep our sending side open until the ack is in: a half-close ends the session.
        outgoing = queue.Queue()
        outgoing.put(eventstream_pb2.Event(event=ce))

        def requests():
            while True:
                item = outgoing.get()
                if item is None:
                    return
                yield item

        stream = eventstream_pb2_grpc.EventStreamStub(channel).Subscribe(requests(), metadata=md, timeout=args.timeout)
        try:
            for msg in stream:
                ev = msg.event
                attrs = ev.attributes
                got = {
                    "type": ev.type,
                    "specVersion": ev.spec_version,
                    "source": ev.source,
                    "dataschema": attrs["dataschema"].ce_uri if "dataschema" in attrs else None,
                    "dataschemaKind": attrs["dataschema"].WhichOneof("attr") if "dataschema" in attrs else None,
                    "resourceid": attrs["resourceid"].ce_string if "resourceid" in attrs else None,
                    "eventid": attrs["eventid"].ce_string if "eventid" in attrs else None,
                    "extensionKinds": {
                        k: attrs[k].WhichOneof("attr") for k in attrs if k not in ("dataschema", "datacontenttype", "subject")
                    },
                    "dataKind": ev.WhichOneof("data"),
                    "dataLength": len(ev.binary_data),
                }
                out.setdefault("received", []).append(got)
                if got["eventid"] == ping_id:
                    out["ack"] = got
                    out["ok"] = True
                    break
        finally:
            outgoing.put(None)
            stream.cancel()
    except grpc.RpcError as err:
        out["error"] = "%s: %s" % (err.code().name, err.details())
    except Exception as err:  # noqa: BLE001 - everything must end up in the JSON line
        out["error"] = "%s: %s" % (type(err).__name__, err)
    finally:
        channel.close()
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
