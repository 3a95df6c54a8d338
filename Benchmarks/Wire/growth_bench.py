"""How the cost of common operations grows with the collection (issue 28's growth table).

One pymongo client loads 1 KB documents with one secondary index (`sid`, uniform random) in
insert_many batches of 1,000 into a fresh `folio serve`. At each size (default 10 K, 100 K,
1 M, 10 M) it reports:
- load: documents per second over the last tenth of the batches since the previous size (at
  least 10), and the server's CPU and bytes written (write syscalls: the WAL, checkpoints into
  the database file) per document over them;
- point read: find_one by a random `_id`, microseconds per call (2,000 calls);
- indexed count: count_documents on a `sid` range holding ~100 documents (200 calls);
- estimatedDocumentCount and count_documents({}), microseconds per call (200 calls), each
  checked against the number of documents inserted;
- the data directory's size and the server's resident memory.

    .venv/bin/python Benchmarks/Wire/growth_bench.py --binary .build/release/folio [--sizes 10000,100000,1000000,10000000]
"""
import argparse
import os
import random
import time

import pymongo

from benchserver import FolioServer, per_op

PAD = "x" * 1000
BATCH = 1000
SID_RANGE = 1 << 31


def dir_mb(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total / (1 << 20)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--sizes", default="10000,100000,1000000,10000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(28)
    rows = []
    with FolioServer(args.binary, prefix="folio-growth-") as server:
        client = pymongo.MongoClient("127.0.0.1", server.port, directConnection=True)
        coll = client.growth.docs
        coll.create_index("sid")
        inserted = 0
        for size in sizes:
            # (seconds, server cpu seconds, bytes written) of the last tenth of the batches
            # since the previous size, at least 10: ten alone often caught a checkpoint.
            keep = max(10, (size - inserted) // BATCH // 10)
            window = []
            while inserted < size:
                docs = [{"_id": inserted + i, "sid": rng.randrange(SID_RANGE), "pad": PAD} for i in range(BATCH)]
                cpu, wrote = server.cpu_seconds(), server.written_bytes()
                start = time.perf_counter()
                coll.insert_many(docs, ordered=False)
                window.append((time.perf_counter() - start, server.cpu_seconds() - cpu, server.written_bytes() - wrote))
                window = window[-keep:]
                inserted += BATCH
            seconds = sum(w[0] for w in window)
            load_rate = len(window) * BATCH / seconds
            load_cpu = sum(w[1] for w in window) / (len(window) * BATCH) * 1e6
            load_written = sum(w[2] for w in window) / (len(window) * BATCH) / 1024
            read = per_op(lambda i: coll.find_one({"_id": rng.randrange(inserted)}), 2000)
            width = max(1, 100 * SID_RANGE // inserted)
            counts = []

            def indexed_count(i):
                low = rng.randrange(SID_RANGE - width)
                counts.append(coll.count_documents({"sid": {"$gte": low, "$lt": low + width}}))
            indexed = per_op(indexed_count, 200)
            estimated = per_op(lambda i: coll.estimated_document_count(), 200)
            assert coll.estimated_document_count() == inserted, (coll.estimated_document_count(), inserted)
            count_all = per_op(lambda i: coll.count_documents({}), 200)
            assert coll.count_documents({}) == inserted
            rows.append((size, load_rate, load_cpu, load_written, read, indexed, sum(counts) / len(counts), estimated, count_all,
                         dir_mb(server.data), server.rss_kb() / 1024))
            print(f"{size:>10,}: load {load_rate:,.0f} docs/s ({load_cpu:.0f} us CPU/doc, {load_written:.1f} KB written/doc), point read {read:.0f} us, "
                  f"indexed count {indexed:.0f} us (~{rows[-1][6]:.0f} matches), estimatedDocumentCount {estimated:.0f} us, "
                  f"count_documents({{}}) {count_all:.0f} us, data {rows[-1][9]:,.0f} MB, RSS {rows[-1][10]:,.0f} MB", flush=True)
        client.close()
    print()
    print("| documents | load, docs/s | server CPU per inserted doc | written per inserted doc | point read by _id | indexed count (~100) | estimatedDocumentCount | count_documents({}) | data on disk | server RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, rate, cpu, written, read, indexed, _, estimated, count_all, data, rss in rows:
        print(f"| {size:,} | {rate:,.0f} | {cpu:.0f} µs | {written:.1f} KB | {read:.0f} µs | {indexed:.0f} µs | {estimated:.0f} µs | {count_all:.0f} µs | {data:,.0f} MB | {rss:,.0f} MB |")


if __name__ == "__main__":
    main()
