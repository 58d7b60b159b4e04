"""A stock gRPC-core client (Python grpcio, default channel options: BDP pings on,
no keepalive) that holds one Subscribe stream and sends a heartbeat every
--interval seconds for --duration seconds, as a Go agent does. The principal
acknowledges every heartbeat; gRPC core answers received data with BDP pings, so
the principal sees about one HTTP/2 PING per heartbeat.

A stream that fails is counted and opened again on the same channel. GOAWAY
frames are not visible to Python code: gRPC core logs one line per GOAWAY
"too_many_pings" on stderr, which the caller counts.

Prints one JSON object on stdout: {"ok": bool, "heartbeats": n, "acks": n,
"streamErrors": [...], "subscribes": n}.

Usage: python3 python_heartbeats.py --stubs DIR --port N --header-name x-agent-id
       --header-value agent-py [--interval 1] [--duration 60]
"""
import argparse
import json
import queue
import sys
import threading
import time
import uuid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--header-name", required=True)
    ap.add_argument("--header-value", required=True)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=60.0)
    args = ap.parse_args()

    sys.path.insert(0, args.stubs)
    import grpc
    import auth_pb2
    import auth_pb2_grpc
    import cloudevent_pb2
    import eventstream_pb2
    import eventstream_pb2_grpc

    out = {"ok": False, "heartbeats": 0, "acks": 0, "streamErrors": [], "subscribes": 0}
    channel = grpc.insecure_channel("127.0.0.1:%d" % args.port)  # default options: BDP probe on
    lock = threading.Lock()

    def heartbeat():
        hid = str(uuid.uuid4())
        ce = cloudevent_pb2.CloudEvent(
            id="", source="agent://agent-managed", spec_version="1.0",
            type="io.argoproj.argocd-agent.event.ping", binary_data=b"",
        )
        ce.attributes["dataschema"].ce_uri = "heartbeat"
        ce.attributes["resourceid"].ce_string = hid
        ce.attributes["eventid"].ce_string = hid
        return eventstream_pb2.Event(event=ce)

    try:
        res = auth_pb2_grpc.AuthenticationStub(channel).Authenticate(
            auth_pb2.AuthRequest(method="header", mode="managed", version="0.9.0", agentNamespace="argocd"),
            metadata=[(args.header_name, args.header_value)],
            timeout=15,
        )
        md = [("authorization", res.accessToken)]
        stub = eventstream_pb2_grpc.EventStreamStub(channel)
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline:
            outgoing = queue.Queue()

            def requests():
                while True:
                    item = outgoing.get()
                    if item is None:
                        return
                    yield item

            stream = stub.Subscribe(requests(), metadata=md)
            out["subscribes"] += 1
            failed = threading.Event()

            def reader():
                try:
                    for _ in stream:
                        with lock:
                            out["acks"] += 1
                except grpc.RpcError as err:
                    if err.code() != grpc.StatusCode.CANCELLED:
                        out["streamErrors"].append("%s: %s" % (err.code().name, err.details()))
                    failed.set()

            t = threading.Thread(target=reader, daemon=True)
            t.start()
            while time.monotonic() < deadline and not failed.is_set():
                outgoing.put(heartbeat())
                with lock:
                    out["heartbeats"] += 1
                failed.wait(args.interval)
            outgoing.put(None)
            if not failed.is_set():
                time.sleep(min(1.0, args.interval))  # collect the last acks
                stream.cancel()
            t.join(5)
        out["ok"] = out["acks"] > 0
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
