"""What a read at a point in time costs through pymongo, against the same read at the latest
commit: find_one by _id plainly, in a new snapshot session each time (each takes a snapshot
and keeps it in the history), and repeatedly in one snapshot session (each names the first
read's time) while another client writes. Fresh server and data directory per run.

    .venv/bin/python Benchmarks/Wire/snapshot_bench.py --binary .build/release/folio --rounds 3
"""
import argparse
import threading
import time

import pymongo

from benchserver import FolioServer


def run(binary, n):
    with FolioServer(binary) as server:
        port = server.port
        client = pymongo.MongoClient(port=port, directConnection=True)
        coll = client.bench.c
        coll.insert_many([{"_id": i, "v": i} for i in range(1000)])
        stop = threading.Event()

        def writer():
            w = pymongo.MongoClient(port=port, directConnection=True).bench.c
            i = 0
            while not stop.is_set():
                w.update_one({"_id": i % 1000}, {"$inc": {"v": 1}})
                i += 1
                time.sleep(0.001)
        t = threading.Thread(target=writer)
        t.start()
        out = {}
        start = time.perf_counter()
        for i in range(n):
            coll.find_one({"_id": i % 1000})
        out["plain"] = (time.perf_counter() - start) / n * 1e6
        start = time.perf_counter()
        for i in range(n):
            with client.start_session(snapshot=True) as s:
                coll.find_one({"_id": i % 1000}, session=s)
        out["new snapshot session each"] = (time.perf_counter() - start) / n * 1e6
        with client.start_session(snapshot=True) as s:
            coll.find_one({"_id": 0}, session=s)
            start = time.perf_counter()
            for i in range(n):
                coll.find_one({"_id": i % 1000}, session=s)
            out["one snapshot session"] = (time.perf_counter() - start) / n * 1e6
        stop.set()
        t.join()
        return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reads", type=int, default=3000)
    args = parser.parse_args()
    for r in range(args.rounds):
        out = run(args.binary, args.reads)
        print(f"round {r}: " + ", ".join(f"{k} {v:.0f} µs" for k, v in out.items()), flush=True)


if __name__ == "__main__":
    main()
