"""Security's costs through pymongo (issue 25), in one run:

    .venv/bin/python Benchmarks/Wire/auth_bench.py --binary .build/release/folio [--rounds 3]

  - one SCRAM authentication (SCRAM-SHA-256 and SCRAM-SHA-1): a new connection that
    authenticates and pings, against one that only pings; wall time per connection and the
    server's CPU per connection (from /proc);
  - point reads (find_one by _id), insert_one and update_one by _id, 1 client, on a server
    with --auth (authenticated as a readWrite user) and on one without, rounds interleaved:
    wall time and server CPU per operation;
  - find of 10,000 documents (~200 bytes) over TLS (--tls-mode requireTLS, certificates made
    with openssl) and over plain TCP;
  - a flood of failed logins (wrong proofs, as fast as one raw socket gets answers) for 5 s:
    failures per second, and the latency of another client's pings meanwhile.
Pass --sections to run some of them (logins,operations,tls,flood).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import pymongo

from benchserver import FolioServer, per_op


def connections(server, n, **credentials):
    """Wall microseconds and server CPU microseconds per new connection that pings."""
    cpu = server.cpu_seconds()
    start = time.perf_counter()
    for _ in range(n):
        c = pymongo.MongoClient(port=server.port, directConnection=True, **credentials)
        c.admin.command("ping")
        c.close()
    wall = (time.perf_counter() - start) / n * 1e6
    return wall, (server.cpu_seconds() - cpu) / n * 1e6


def operations(server, client, n):
    """(wall µs, server CPU µs) per operation of each kind."""
    coll = client.bench.items
    coll.drop()
    coll.insert_many([{"_id": i, "n": 0, "pad": "x" * 100} for i in range(1000)])
    out = {}
    for name, fn in [("find_one by _id", lambda i: coll.find_one({"_id": i % 1000})),
                     ("insert_one", lambda i: coll.insert_one({"k": i, "pad": "y" * 100})),
                     ("update_one by _id", lambda i: coll.update_one({"_id": i % 1000}, {"$inc": {"n": 1}}))]:
        cpu = server.cpu_seconds()
        wall = per_op(fn, n)
        out[name] = (wall, (server.cpu_seconds() - cpu) / n * 1e6)
    return out


def certificates(directory):
    """A CA and a server certificate for 127.0.0.1, made with openssl; returns (ca, server pem)."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bench-ca", "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "s.key", "-out", "s.csr")
    with open(os.path.join(directory, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "s.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "ext", "-out", "s.crt")
    with open(os.path.join(directory, "server.pem"), "w") as out:
        for part in ("s.crt", "s.key"):
            with open(os.path.join(directory, part)) as f:
                out.write(f.read())
    return os.path.join(directory, "ca.pem"), os.path.join(directory, "server.pem")


def scans(server, client, repeat):
    """Wall ms and server CPU ms per find of all 10,000 documents."""
    coll = client.bench.scan
    coll.drop()
    coll.insert_many([{"_id": i, "name": f"user-{i}", "pad": "z" * 150} for i in range(10_000)])
    assert len(list(coll.find())) == 10_000
    cpu = server.cpu_seconds()
    start = time.perf_counter()
    for _ in range(repeat):
        list(coll.find())
    return (time.perf_counter() - start) / repeat * 1e3, (server.cpu_seconds() - cpu) / repeat * 1e3


def flood(binary, seconds=5.0):
    """Failed logins per second from one socket, and another client's ping latencies (µs)."""
    import socket
    import struct
    import threading
    import bson
    with FolioServer(binary, args=("--auth",)) as server:
        bare = pymongo.MongoClient(port=server.port, directConnection=True)
        bare.admin.command("createUser", "root", pwd="bench-secret", roles=["root"])
        bare.close()
        stop = threading.Event()
        failures = [0]

        def attack():
            sock = socket.create_connection(("127.0.0.1", server.port))
            request = 0

            def call(command):
                nonlocal request
                request += 1
                body = b"\x00\x00\x00\x00\x00" + bson.encode(command)
                sock.sendall(struct.pack("<iiii", 16 + len(body), request, 0, 2013) + body)
                header = sock.recv(16, socket.MSG_WAITALL)
                return bson.decode(sock.recv(struct.unpack("<i", header[:4])[0] - 16, socket.MSG_WAITALL)[5:])

            while not stop.is_set():
                start = call({"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"n,,n=root,r=flood", "$db": "admin"})
                nonce = start["payload"].split(b",")[0][2:]
                reply = call({"saslContinue": 1, "conversationId": 1, "$db": "admin",
                              "payload": b"c=biws,r=" + nonce + b",p=" + b"A" * 43 + b"="})
                if reply.get("code") == 18:
                    failures[0] += 1
            sock.close()

        other = pymongo.MongoClient(port=server.port, directConnection=True, username="root", password="bench-secret")
        other.admin.command("ping")
        thread = threading.Thread(target=attack)
        began = time.perf_counter()
        thread.start()
        latencies = []
        while time.perf_counter() - began < seconds:
            t = time.perf_counter()
            other.admin.command("ping")
            latencies.append((time.perf_counter() - t) * 1e6)
            time.sleep(0.005)
        stop.set()
        thread.join()
        elapsed = time.perf_counter() - began
        other.close()
        latencies.sort()
        return failures[0] / elapsed, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)], latencies[-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/folio")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--sections", default="logins,operations,tls,flood")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if sections == {"flood"}:
        rate, p50, p99, worst = flood(args.binary)
        print(f"failed logins: {rate:.0f}/s from one socket; another client's pings meanwhile: "
              f"p50 {p50:.0f} µs, p99 {p99:.0f} µs, max {worst:.0f} µs")
        return

    logins = {"no credentials": [], "SCRAM-SHA-256": [], "SCRAM-SHA-1": []}
    ops = {"without --auth": {}, "with --auth": {}}
    transport = {"plain": [], "TLS": []}
    certs = tempfile.mkdtemp(prefix="folio-bench-tls-")
    ca, server_pem = certificates(certs)
    for round_ in range(args.rounds):
        for auth in [False, True] if round_ % 2 == 0 else [True, False]:
            with FolioServer(args.binary, args=("--auth",) if auth else ()) as server:
                if auth:
                    bare = pymongo.MongoClient(port=server.port, directConnection=True)
                    bare.admin.command("createUser", "root", pwd="bench-secret", roles=["root"])
                    bare.close()
                    root = pymongo.MongoClient(port=server.port, directConnection=True, username="root", password="bench-secret")
                    root.bench.command("createUser", "app", pwd="app-secret", roles=["readWrite"])
                    root.close()
                    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-1"]:
                        logins[mechanism].append(connections(server, args.connections, username="app", password="app-secret",
                                                             authSource="bench", authMechanism=mechanism))
                    logins["no credentials"].append(connections(server, args.connections))
                    client = pymongo.MongoClient(port=server.port, directConnection=True, username="app",
                                                 password="app-secret", authSource="bench")
                else:
                    client = pymongo.MongoClient(port=server.port, directConnection=True)
                for name, result in operations(server, client, args.ops).items():
                    ops["with --auth" if auth else "without --auth"].setdefault(name, []).append(result)
                client.close()
        for tls in [False, True] if round_ % 2 == 0 else [True, False]:
            extra = ("--tls-mode", "requireTLS", "--tls-certificate-key-file", server_pem) if tls else ()
            with FolioServer(args.binary, args=extra) as server:
                client = pymongo.MongoClient(port=server.port, directConnection=True, **({"tls": True, "tlsCAFile": ca} if tls else {}))
                transport["TLS" if tls else "plain"].append(scans(server, client, 20))
                client.close()
    shutil.rmtree(certs, ignore_errors=True)

    print(f"new connection + ping, {args.connections} connections, medians of {args.rounds} rounds:")
    for name, values in logins.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"  {name:16} {wall:8.0f} µs wall   {cpu:6.0f} µs server CPU")
    print(f"operations, 1 client, {args.ops} each, medians of {args.rounds} rounds (µs per operation, wall / server CPU):")
    for name in ops["without --auth"]:
        off = [v for v in ops["without --auth"][name]]
        on = [v for v in ops["with --auth"][name]]
        off_wall, on_wall = statistics.median(v[0] for v in off), statistics.median(v[0] for v in on)
        off_cpu, on_cpu = statistics.median(v[1] for v in off), statistics.median(v[1] for v in on)
        print(f"  {name:18} without {off_wall:6.1f} / {off_cpu:5.1f}   with {on_wall:6.1f} / {on_cpu:5.1f}"
              f"   wall {100 * (on_wall - off_wall) / off_wall:+5.1f}%  CPU {100 * (on_cpu - off_cpu) / off_cpu:+5.1f}%"
              f"   (wall rounds: {', '.join(f'{v[0]:.0f}' for v in off)} / {', '.join(f'{v[0]:.0f}' for v in on)})")
    print(f"find of 10,000 documents, 20 per round, medians of {args.rounds} rounds (ms per find, wall / server CPU):")
    for name, values in transport.items():
        print(f"  {name:6} {statistics.median(v[0] for v in values):7.1f} / {statistics.median(v[1] for v in values):6.1f}"
              f"   (rounds: {', '.join(f'{v[0]:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
