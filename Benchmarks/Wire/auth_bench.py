"""Access control's costs through pymongo (issue 25), in one run:

    .venv/bin/python Benchmarks/Wire/auth_bench.py --binary .build/release/folio [--rounds 3]

  - one SCRAM authentication (SCRAM-SHA-256 and SCRAM-SHA-1): a new connection that
    authenticates and pings, against one that only pings; wall time per connection and the
    server's CPU per connection (from /proc);
  - point reads (find_one by _id), insert_one and update_one by _id, 1 client, on a server
    with --auth (authenticated as a readWrite user) and on one without, rounds interleaved.
"""
import argparse
import statistics
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


def operations(client, n):
    coll = client.bench.items
    coll.drop()
    coll.insert_many([{"_id": i, "n": 0, "pad": "x" * 100} for i in range(1000)])
    return {
        "find_one by _id": per_op(lambda i: coll.find_one({"_id": i % 1000}), n),
        "insert_one": per_op(lambda i: coll.insert_one({"k": i, "pad": "y" * 100}), n),
        "update_one by _id": per_op(lambda i: coll.update_one({"_id": i % 1000}, {"$inc": {"n": 1}}), n),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/folio")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=200)
    args = parser.parse_args()

    logins = {"no credentials": [], "SCRAM-SHA-256": [], "SCRAM-SHA-1": []}
    ops = {"without --auth": {}, "with --auth": {}}
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
                for name, micros in operations(client, args.ops).items():
                    ops["with --auth" if auth else "without --auth"].setdefault(name, []).append(micros)
                client.close()

    print(f"new connection + ping, {args.connections} connections, medians of {args.rounds} rounds:")
    for name, values in logins.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"  {name:16} {wall:8.0f} µs wall   {cpu:6.0f} µs server CPU")
    print(f"operations, 1 client, {args.ops} each, medians of {args.rounds} rounds (µs per operation):")
    for name in ops["without --auth"]:
        off = statistics.median(ops["without --auth"][name])
        on = statistics.median(ops["with --auth"][name])
        print(f"  {name:18} without {off:7.1f}   with {on:7.1f}   {100 * (on - off) / off:+5.1f}%"
              f"   (rounds: {', '.join(f'{v:.0f}' for v in ops['without --auth'][name])} / "
              f"{', '.join(f'{v:.0f}' for v in ops['with --auth'][name])})")


if __name__ == "__main__":
    main()
