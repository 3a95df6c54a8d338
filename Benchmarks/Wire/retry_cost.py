"""What retryable writes cost through pymongo: single writes with retryWrites off and on,
one client (microseconds per insert_one and update_one) and eight client processes
(inserts per second), for each binary given, interleaved round by round, a fresh server and
data directory per run. Prints each run and the medians.

    .venv/bin/python Benchmarks/Wire/retry_cost.py --binary A --binary B --rounds 8
"""
import argparse
import multiprocessing
import statistics
import time

import pymongo

from benchserver import FolioServer


def one_client(binary, retry, n):
    with FolioServer(binary) as server:
        client = pymongo.MongoClient(port=server.port, directConnection=True, retryWrites=retry)
        coll = client.bench.c
        coll.insert_one({"_id": -1})
        start = time.perf_counter()
        for i in range(n):
            coll.insert_one({"_id": i, "v": i})
        insert = (time.perf_counter() - start) / n * 1e6
        start = time.perf_counter()
        for i in range(n):
            coll.update_one({"_id": i}, {"$inc": {"v": 1}})
        update = (time.perf_counter() - start) / n * 1e6
        client.close()
        return insert, update


def inserter(port, k, n, retry, go):
    client = pymongo.MongoClient(port=port, directConnection=True, retryWrites=retry)
    coll = client.bench.c
    coll.find_one()
    go.get()
    for i in range(n):
        coll.insert_one({"_id": k * 10_000_000 + i})
    client.close()


def eight_clients(binary, retry, n):
    with FolioServer(binary) as server:
        go = multiprocessing.Queue()
        workers = [multiprocessing.Process(target=inserter, args=(server.port, k, n, retry, go)) for k in range(8)]
        for w in workers:
            w.start()
        time.sleep(1.5)  # connected and idle
        start = time.perf_counter()
        for _ in workers:
            go.put(1)
        for w in workers:
            w.join()
        return 8 * n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", action="append", required=True)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--singles", type=int, default=2500)
    parser.add_argument("--per-client", type=int, default=1500)
    args = parser.parse_args()
    results = {}
    for r in range(args.rounds):
        for binary in args.binary:
            for retry in (False, True):
                insert, update = one_client(binary, retry, args.singles)
                rate = eight_clients(binary, retry, args.per_client)
                results.setdefault((binary, retry), []).append((insert, update, rate))
                print(f"round {r} {binary} retryWrites={retry}: insert_one {insert:.0f} µs, update_one {update:.0f} µs, "
                      f"8 clients {rate:.0f} inserts/s", flush=True)
    for (binary, retry), runs in results.items():
        print(f"median {binary} retryWrites={retry}: insert_one {statistics.median(x[0] for x in runs):.0f} µs, "
              f"update_one {statistics.median(x[1] for x in runs):.0f} µs, 8 clients {statistics.median(x[2] for x in runs):.0f} inserts/s")


if __name__ == "__main__":
    main()
