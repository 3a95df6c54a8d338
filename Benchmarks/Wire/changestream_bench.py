"""What the change log and change streams cost, through pymongo, a fresh server and data
directory per round:

1. with --baseline (a build without the change log): microseconds per insert_one and per
   insert_many of 1,000 (~100-byte documents), both binaries alternating round by round;
2. server memory (VmRSS) before and after opening `--idle` change streams that stay idle.

The chat fan-out (100 watchers, 8 writers) is changestream_fanout.js: Python's threads could
not drive it (the client was the limit, not the server).

    .venv/bin/python Benchmarks/Wire/changestream_bench.py --binary .build/release/folio \\
        --baseline /tmp/base/.build/release/folio --rounds 3
"""
import argparse
import statistics
import time

import pymongo

from benchserver import FolioServer, per_op

PAD = "x" * 80


def insert_round(binary, n, batches):
    with FolioServer(binary) as server:
        client = pymongo.MongoClient(port=server.port, directConnection=True)
        coll = client.bench.messages
        coll.insert_one({"warm": True})
        one = per_op(lambda i: coll.insert_one({"i": i, "pad": PAD}), n)
        many = per_op(lambda i: coll.insert_many([{"i": k, "pad": PAD} for k in range(1000)]), batches)
        client.close()
        return one, many


def idle_memory(binary, idle):
    with FolioServer(binary) as server:
        client = pymongo.MongoClient(port=server.port, directConnection=True)
        coll = client.chat.messages
        coll.insert_one({"warm": True})
        before = server.rss_kb()
        streams = [coll.watch() for _ in range(idle)]
        time.sleep(0.5)
        after = server.rss_kb()
        for s in streams:
            s.close()
        client.close()
        return before, after


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--baseline")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("-n", type=int, default=3000)
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--idle", type=int, default=1000)
    a = p.parse_args()
    if a.baseline:
        results = {"baseline": [], "change log": []}
        for r in range(a.rounds):
            for name, binary in (("baseline", a.baseline), ("change log", a.binary)):
                one, many = insert_round(binary, a.n, a.batches)
                results[name].append((one, many))
                print(f"round {r + 1} {name:10s}: insert_one {one:7.1f} us, insert_many(1000) {many / 1000:7.2f} ms", flush=True)
        base_one = statistics.median(x[0] for x in results["baseline"])
        base_many = statistics.median(x[1] for x in results["baseline"])
        log_one = statistics.median(x[0] for x in results["change log"])
        log_many = statistics.median(x[1] for x in results["change log"])
        print(f"median insert_one: {base_one:.1f} -> {log_one:.1f} us ({(log_one / base_one - 1) * 100:+.1f}%)")
        print(f"median insert_many(1000): {base_many / 1000:.2f} -> {log_many / 1000:.2f} ms ({(log_many / base_many - 1) * 100:+.1f}%)")
    before, after = idle_memory(a.binary, a.idle)
    print(f"idle streams: VmRSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB with {a.idle} open "
          f"({(after - before) / a.idle:.1f} KiB each)")


if __name__ == "__main__":
    main()
