"""What the change log and change streams cost, through pymongo, a fresh server and data
directory per round:

1. with --baseline (a build without the change log): microseconds per insert_one and per
   insert_many of 1,000 (~100-byte documents), both binaries alternating round by round;
2. chat fan-out: `--watchers` change streams on one collection while `--writers` threads
   insert messages as fast as they can for `--seconds`: the insert rate, and p50/p99 of the
   time from a write's acknowledgement (insert_one returning) to the event's arrival at each
   watcher (negative when the event arrived first);
3. server memory (VmRSS) before and after opening `--idle` change streams that stay idle.

    .venv/bin/python Benchmarks/Wire/changestream_bench.py --binary .build/release/folio \\
        --baseline /tmp/base/.build/release/folio --rounds 3
"""
import argparse
import statistics
import threading
import time

import pymongo

from benchserver import FolioServer

PAD = "x" * 80


def per_op(fn, n):
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e6


def insert_round(binary, n, batches):
    with FolioServer(binary) as server:
        client = pymongo.MongoClient(port=server.port, directConnection=True)
        coll = client.bench.messages
        coll.insert_one({"warm": True})
        one = per_op(lambda i: coll.insert_one({"i": i, "pad": PAD}), n)
        many = per_op(lambda i: coll.insert_many([{"i": k, "pad": PAD} for k in range(1000)]), batches)
        client.close()
        return one, many


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fanout(binary, watchers, writers, seconds):
    with FolioServer(binary) as server:
        client = pymongo.MongoClient(port=server.port, directConnection=True, maxPoolSize=watchers + writers + 10)
        coll = client.chat.messages
        coll.insert_one({"warm": True})
        acks = {}
        latencies = []
        lock = threading.Lock()
        ready = threading.Barrier(watchers + 1)
        stop = threading.Event()

        def watch():
            with coll.watch(max_await_time_ms=200) as stream:
                ready.wait()
                while not stop.is_set() or stream.alive:
                    event = stream.try_next()
                    now = time.perf_counter()
                    if event is None:
                        if stop.is_set():
                            break
                        continue
                    key = event["documentKey"]["_id"]
                    with lock:
                        latencies.append((key, now))

        threads = [threading.Thread(target=watch) for _ in range(watchers)]
        for t in threads:
            t.start()
        ready.wait()
        count = [0] * writers

        def write(w):
            end = time.perf_counter() + seconds
            k = 0
            while time.perf_counter() < end:
                _id = f"{w}-{k}"
                coll.insert_one({"_id": _id, "conversation": k % 50, "from": w, "text": PAD})
                acks[_id] = time.perf_counter()
                k += 1
            count[w] = k

        start = time.perf_counter()
        ws = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in ws:
            t.start()
        for t in ws:
            t.join()
        elapsed = time.perf_counter() - start
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
        delays = sorted((arrived - acks[key]) * 1000 for key, arrived in latencies if key in acks)
        client.close()
        inserted = sum(count)
        return {"inserts/s": inserted / elapsed, "events": len(delays), "expected events": inserted * watchers,
                "p50 ms": delays[len(delays) // 2] if delays else None,
                "p99 ms": delays[int(len(delays) * 0.99)] if delays else None}


def idle_memory(binary, idle):
    with FolioServer(binary) as server:
        client = pymongo.MongoClient(port=server.port, directConnection=True)
        coll = client.chat.messages
        coll.insert_one({"warm": True})
        before = rss_kb(server.proc.pid)
        streams = [coll.watch() for _ in range(idle)]
        time.sleep(0.5)
        after = rss_kb(server.proc.pid)
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
    p.add_argument("--watchers", type=int, default=100)
    p.add_argument("--writers", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10)
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
    print("fan-out:", fanout(a.binary, a.watchers, a.writers, a.seconds), flush=True)
    before, after = idle_memory(a.binary, a.idle)
    print(f"idle streams: VmRSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB with {a.idle} open "
          f"({(after - before) / a.idle:.1f} KiB each)")


if __name__ == "__main__":
    main()
