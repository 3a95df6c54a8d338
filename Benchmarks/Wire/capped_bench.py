"""What capped collections and the profiler cost through pymongo, one client, a fresh server
and data directory per round: microseconds per insert_one (~100-byte documents) into a plain
collection, a capped one bounded by size (1 MB, full, so every insert deletes the oldest)
and one bounded by count (max 1,000); per insert_many of 1,000 into each; and per find_one by
`_id` with the profiler off and at level 2. Prints each round and the medians.

    .venv/bin/python Benchmarks/Wire/capped_bench.py --binary .build/release/folio --rounds 3
"""
import argparse
import statistics
import time

import pymongo

from benchserver import FolioServer, per_op

PAD = "x" * 80


def round_(binary, n):
    out = {}
    with FolioServer(binary) as server:
        client = pymongo.MongoClient(port=server.port, directConnection=True)
        db = client.bench
        db.create_collection("plain")
        db.create_collection("by_size", capped=True, size=1 << 20)
        db.create_collection("by_count", capped=True, size=1 << 30, max=1000)
        for name in ["plain", "by_size", "by_count"]:
            coll = db[name]
            # Fill first, so the capped ones delete on every measured insert.
            coll.insert_many([{"i": -k, "pad": PAD} for k in range(12_000)])
            out[f"insert_one {name}"] = per_op(lambda i: coll.insert_one({"i": i, "pad": PAD}), n)
            out[f"insert_many(1000) {name}"] = per_op(
                lambda i: coll.insert_many([{"i": i * 1000 + k, "pad": PAD} for k in range(1000)]), max(5, n // 500))
        db.people.insert_many([{"_id": i, "pad": PAD} for i in range(1000)])
        out["find_one profiler off"] = per_op(lambda i: db.people.find_one({"_id": i % 1000}), n)
        db.command("profile", 2)
        out["find_one profiler level 2"] = per_op(lambda i: db.people.find_one({"_id": i % 1000}), n)
        db.command("profile", 0)
        assert db.by_count.estimated_document_count() == 1000
        assert db.command("collStats", "by_size")["size"] <= 1 << 20
        client.close()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("-n", type=int, default=3000)
    a = p.parse_args()
    runs = []
    for r in range(a.rounds):
        runs.append(round_(a.binary, a.n))
        print(f"round {r}: " + ", ".join(f"{k} {v:.0f} us" for k, v in runs[-1].items()), flush=True)
    print("medians:")
    for k in runs[0]:
        print(f"  {k}: {statistics.median(run[k] for run in runs):.0f} us")


if __name__ == "__main__":
    main()
