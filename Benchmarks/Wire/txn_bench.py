"""Transactions through pymongo (issue 20), against one or more folio binaries in one run.

    .venv/bin/python Benchmarks/Wire/txn_bench.py --binary NEW [--binary OLD ...] [--rounds 3]

Per binary, in rounds (binaries interleaved, a fresh server and data directory each round):
  - transfer: two update_one by _id ($inc -x, $inc +x), outside a transaction and inside one
    (start_transaction ... commit), 1 client, N transfers each: microseconds per transfer;
  - bank: with_transaction transfers between 100 accounts (findOneAndUpdate guard + update)
    for T seconds with 1 and 8 client threads: commits/s and conflicts retried;
  - point reads (find_one by _id) and single writes (insert_one, update_one $inc), 1 client.
Binaries without transactions skip the transaction parts.
"""
import argparse
import os
import random
import threading
import time

import pymongo
from pymongo.errors import OperationFailure

from benchserver import FolioServer


class Server(FolioServer):
    def __init__(self, binary):
        super().__init__(binary, prefix="folio-txn-bench-")
        self.client = pymongo.MongoClient(f"mongodb://127.0.0.1:{self.port}/?directConnection=true", maxPoolSize=32)

    def close(self):
        self.client.close()
        self.stop()


def timed(n, body):
    start = time.perf_counter()
    for i in range(n):
        body(i)
    return (time.perf_counter() - start) / n * 1e6


def transfers(server, n):
    coll = server.client.bench.accounts
    coll.drop()
    coll.insert_many([{"_id": i, "balance": 1_000_000} for i in range(100)])
    rng = random.Random(1)
    pairs = [rng.sample(range(100), 2) for _ in range(n)]

    def outside(i):
        a, b = pairs[i]
        coll.update_one({"_id": a}, {"$inc": {"balance": -1}})
        coll.update_one({"_id": b}, {"$inc": {"balance": 1}})

    with server.client.start_session() as s:
        def inside(i):
            a, b = pairs[i]
            s.start_transaction()
            coll.update_one({"_id": a}, {"$inc": {"balance": -1}}, session=s)
            coll.update_one({"_id": b}, {"$inc": {"balance": 1}}, session=s)
            s.commit_transaction()
        timed(200, outside)  # warm-up
        timed(200, inside)
        out_us = timed(n, outside)
        in_us = timed(n, inside)
    return out_us, in_us


def bank(server, threads, seconds):
    coll = server.client.bench.bank
    coll.drop()
    coll.insert_many([{"_id": i, "balance": 1000} for i in range(100)])
    stop = time.monotonic() + seconds
    counts = {"commits": 0, "conflicts": 0}
    lock = threading.Lock()

    def mover(seed):
        rng = random.Random(seed)
        with server.client.start_session() as s:
            while time.monotonic() < stop:
                a, b = rng.sample(range(100), 2)
                tries = [0]

                def callback(session):
                    tries[0] += 1
                    if coll.find_one_and_update({"_id": a, "balance": {"$gte": 1}}, {"$inc": {"balance": -1}}, session=session) is None:
                        return
                    coll.update_one({"_id": b}, {"$inc": {"balance": 1}}, session=session)
                s.with_transaction(callback)
                with lock:
                    counts["commits"] += 1
                    counts["conflicts"] += tries[0] - 1

    started = time.monotonic()
    ts = [threading.Thread(target=mover, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - started
    total = sum(d["balance"] for d in coll.find())
    assert total == 100_000, total
    return counts["commits"] / elapsed, counts["conflicts"]


def singles(server, n):
    coll = server.client.bench.singles
    coll.drop()
    coll.insert_many([{"_id": i, "n": 0, "pad": "x" * 200} for i in range(10_000)])
    rng = random.Random(2)
    keys = [rng.randrange(10_000) for _ in range(n)]
    timed(500, lambda i: coll.find_one({"_id": keys[i]}))
    read = timed(n, lambda i: coll.find_one({"_id": keys[i]}))
    insert = timed(n, lambda i: coll.insert_one({"_id": 100_000 + i, "n": 0, "pad": "x" * 200}))
    update = timed(n, lambda i: coll.update_one({"_id": keys[i]}, {"$inc": {"n": 1}}))
    return read, insert, update


def supports_transactions(server):
    with server.client.start_session() as s:
        try:
            s.start_transaction()
            server.client.bench.probe.insert_one({}, session=s)
            s.abort_transaction()
            return True
        except OperationFailure:
            return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", action="append", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--transfers", type=int, default=2000)
    p.add_argument("--singles", type=int, default=3000)
    p.add_argument("--bank-seconds", type=float, default=8)
    a = p.parse_args()
    for r in range(a.rounds):
        for binary in a.binary:
            label = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(binary)))) or binary
            server = Server(binary)
            try:
                read, insert, update = singles(server, a.singles)
                line = f"round {r} {label}: find_one {read:.0f} µs, insert_one {insert:.0f} µs, update_one {update:.0f} µs"
                if supports_transactions(server):
                    out_us, in_us = transfers(server, a.transfers)
                    b1, c1 = bank(server, 1, a.bank_seconds)
                    b8, c8 = bank(server, 8, a.bank_seconds)
                    line += (f"; transfer outside {out_us:.0f} µs, in a transaction {in_us:.0f} µs ({in_us / out_us:.2f}x)"
                             f"; bank 1 client {b1:.0f} commits/s ({c1} conflicts), 8 clients {b8:.0f} commits/s ({c8} conflicts)")
                print(line, flush=True)
            finally:
                server.close()


if __name__ == "__main__":
    main()
