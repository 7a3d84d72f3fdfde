"""A python-socketio client over HTTP long-polling only, for tests/polling.test.js.

    polling_client.py URL ROOM COUNT [TIMEOUT_S]

Connects to URL with transports=['polling'], joins ROOM with a sails.io.js
style virtual request (emit 'post' {method, url, data, headers} with an ack, via
`call`), prints one JSON line {"joined": <ack>, "transport": ...} (the test
starts broadcasting when it reads it), then collects the 'seq' events (data
{"n": N}) until COUNT arrived or TIMEOUT_S passed, waits a little longer for
any duplicate, disconnects and prints one JSON summary line:
{"received": [N, ...], "transports": [...], "id": <GET /sockets/id>, ...}.
Any failure prints {"error": "..."} and exits 1.

Without the raised max_decode_packets (see main) this client drops the
connection on the first poll answer of more than 16 packets.
"""

import json
import sys
import threading
import time

import engineio.payload
import socketio


def request(sio, method, url, data=None):
    return sio.call(method, {"method": method, "url": url, "data": data, "headers": {}}, timeout=5)


def main():
    url, room, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # python-engineio's client refuses (and drops the connection on) a poll
    # answer of more than 16 packets (Payload.max_decode_packets), while
    # engine.io, python-engineio's own server and roomcast answer a poll with
    # everything pending. A stream of broadcasts to a polling client easily
    # queues more than 16 between two polls, so the limit is raised here, as
    # python-engineio documents for such clients.
    engineio.payload.Payload.max_decode_packets = count + 16
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 15.0
    received = []
    transports = set()
    enough = threading.Event()
    sio = socketio.Client(reconnection=False)

    @sio.on("seq")
    def on_seq(data):
        received.append(data["n"])
        transports.add(sio.transport())
        if len(received) >= count:
            enough.set()

    try:
        sio.connect(url, transports=["polling"], wait_timeout=5)
        connected_on = sio.transport()
        joined = request(sio, "post", "/sockets/join", {"room": room})
        print(json.dumps({"joined": joined, "transport": sio.transport()}), flush=True)
        enough.wait(timeout)
        time.sleep(0.3)  # a duplicate would show up now
        own_id = request(sio, "get", "/sockets/id")
        summary = {
            "connected_on": connected_on,
            "transports": sorted(transports),
            "received": list(received),
            "id": own_id,
        }
        sio.disconnect()
        print(json.dumps(summary), flush=True)
    except Exception as e:  # noqa: BLE001 -- reported to the test, which fails
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        try:
            sio.disconnect()
        finally:
            sys.exit(1)


if __name__ == "__main__":
    main()
