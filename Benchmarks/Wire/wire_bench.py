"""The wire benchmark: pymongo on loopback against `folio serve` and against the no-op wire
server (`folio noop-server`, the floor: driver plus loopback), in one run.

Usage: python wire_bench.py --binary .build/release/folio [--quick]

Single operations run on one thread, alternating between the two servers round by round;
each figure is the best round. Then 1,000 connections are opened to folio at once and each
runs hello and ping, and folio's resident memory is read idle (after start, after the
workload once folio has had a quiet window to give caches back, and with the 1,000
connections open).
"""
import argparse
import os
import resource
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import time

import bson
import pymongo

OP_MSG = 2013


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, port):
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{args} exited")
            time.sleep(0.05)
    raise RuntimeError(f"{args} did not start")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def document(i):
    return {"_id": i, "name": f"user{i}", "email": f"user{i}@example.com", "age": 18 + i % 60,
            "city": ["Oslo", "Lima", "Pune", "Kyiv"][i % 4], "tags": ["a", "b", "c"][: 1 + i % 3],
            "score": i * 0.5, "bio": "x" * 120}


def workloads(n):
    """(name, unit, setup(coll), run(coll) -> count)."""
    def insert_one(coll, state):
        base = state["next"]
        for i in range(n):
            coll.insert_one(document(base + i))
        state["next"] += n
        return n

    def find_one(coll, state):
        for i in range(n):
            coll.find_one({"_id": i % 10_000})
        return n

    def update_one(coll, state):
        for i in range(n):
            coll.update_one({"_id": i % 10_000}, {"$inc": {"age": 1}})
        return n

    def insert_many(coll, state):
        rounds = max(2, n // 500)
        for _ in range(rounds):
            base = state["next"]
            coll.insert_many([document(base + i) for i in range(1000)])
            state["next"] += 1000
        return rounds * 1000

    def find_all(coll, state):
        rounds = max(2, n // 1000)
        total = 0
        for _ in range(rounds):
            total += sum(1 for _ in coll.find({}))
        return total

    return [("insert_one", "ops/s", "writes", insert_one),
            ("find_one by _id", "ops/s", "reads", find_one),
            ("update_one", "ops/s", "reads", update_one),
            ("insert_many(1000)", "docs/s", "bulk", insert_many),
            ("find 10,000 docs", "docs/s", "reads", find_all)]


def prepare(client):
    db = client.wirebench
    db.drop_collection("reads")
    db.drop_collection("writes")
    db.drop_collection("bulk")
    db.reads.insert_many([document(i) for i in range(10_000)])
    return db


def msg(request_id, body):
    payload = struct.pack("<I", 0) + b"\x00" + bson.encode(body)
    return struct.pack("<iiii", 16 + len(payload), request_id, 0, OP_MSG) + payload


def connections(port, count):
    """Opens `count` connections at once; each sends hello then ping. Returns (sockets, answered)."""
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        socks.append(s)
    for rounds, body in enumerate(({"hello": 1, "$db": "admin"}, {"ping": 1, "$db": "admin"})):
        for i, s in enumerate(socks):
            s.sendall(msg(i + 1, body))
        sel = selectors.DefaultSelector()
        buffers = {}
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            buffers[s] = b""
        answered = 0
        deadline = time.time() + 60
        while answered < len(socks) and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                chunk = s.recv(65536)
                if not chunk:
                    sel.unregister(s)
                    continue
                buffers[s] += chunk
                b = buffers[s]
                if len(b) >= 4 and len(b) >= struct.unpack("<i", b[:4])[0]:
                    reply = bson.decode(b[21:struct.unpack("<i", b[:4])[0]])
                    if reply.get("ok") == 1.0:
                        answered += 1
                    sel.unregister(s)
        sel.close()
        for s in socks:
            s.setblocking(True)
    return socks, answered


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/folio")
    parser.add_argument("--quick", action="store_true", help="fewer operations per round (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))

    n = 500 if args.quick else 5000
    folio_port, noop_port = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="folio-wirebench-")
    folio = start([args.binary, "serve", "--port", str(folio_port), "--dbpath", data], folio_port)
    noop = start([args.binary, "noop-server", "--port", str(noop_port)], noop_port)
    try:
        time.sleep(1)
        idle_start = rss_mb(folio.pid)
        clients = {name: pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true")
                   for name, port in (("noop", noop_port), ("folio", folio_port))}
        dbs = {name: prepare(c) for name, c in clients.items()}
        state = {name: {"next": 1_000_000} for name in clients}
        best = {}
        for _ in range(args.rounds):
            for name, unit, coll, run in workloads(n):
                for server in ("noop", "folio"):
                    started = time.perf_counter()
                    count = run(dbs[server][coll], state[server])
                    rate = count / (time.perf_counter() - started)
                    best[(name, server)] = max(best.get((name, server), 0), rate)
        for c in clients.values():
            c.close()
        # folio gives caches back after a quiet 5-second window.
        time.sleep(12)
        idle_after = rss_mb(folio.pid)
        socks, answered = connections(folio_port, 1000)
        time.sleep(12)
        idle_connected = rss_mb(folio.pid)
        still = pymongo.MongoClient(f"mongodb://127.0.0.1:{folio_port}/?directConnection=true")
        still.admin.command("ping")
        still.close()
        for s in socks:
            s.close()

        print(f"\nwire benchmark: pymongo {pymongo.version}, Python {sys.version.split()[0]}, loopback, "
              f"{os.cpu_count()} cores, best of {args.rounds} rounds, {n} single ops per round")
        print(f"| operation | no-op server | folio | folio / floor |")
        print(f"|---|---:|---:|---:|")
        for name, unit, _, _ in workloads(n):
            floor, ours = best[(name, "noop")], best[(name, "folio")]
            print(f"| {name} | {floor:,.0f} {unit} | {ours:,.0f} {unit} | {ours / floor:.0%} |")
        print(f"\n1,000 concurrent connections: {answered}/1000 answered hello and ping; "
              f"another client served while they were open")
        print(f"folio resident memory: idle after start {idle_start:.1f} MB, idle after the workload {idle_after:.1f} MB, "
              f"with 1,000 idle connections {idle_connected:.1f} MB")
        if answered != 1000:
            sys.exit("not every connection was served")
    finally:
        folio.terminate()
        noop.terminate()
        folio.wait(timeout=30)
        noop.wait(timeout=30)


if __name__ == "__main__":
    main()
