"""Text search side by side: Folio's `$text` (pymongo) against PostgreSQL's full-text search
(psycopg, a GIN index on a stored tsvector, ts_rank), on the same generated articles, in one run.

Each article has a title (3 words) and a body (40 words) drawn from a Zipf-distributed
vocabulary of 20,000 pronounceable words, and a status ("A" for 80%). Both sides stem with
Snowball's English stemmer; the title weighs 5 in Folio and is setweight 'A' in PostgreSQL.

Measured: loading (insert_many of 1,000; executemany of 1,000 rows per transaction, which for
PostgreSQL includes computing the tsvector), building the text index over
the stored articles, and the median milliseconds of ranked queries that return the 10 best
(`{$meta: "textScore"}` sort with a status filter; ORDER BY ts_rank ... LIMIT 10): a rare word,
a common word, two words (OR), a phrase, a word with a negation. Both engines rank every match
before taking 10 (neither can stop early), so the common word shows the cost per match.

    .venv/bin/pip install 'psycopg[binary]'   # once; not part of the test suite
    .venv/bin/python Benchmarks/Wire/text_bench.py --binary .build/release/folio --articles 100000
"""
import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

import pymongo

from benchserver import FolioServer, free_port

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "ba", "do", "fi", "gu", "ha", "je", "pa"]


def vocabulary(rng, n):
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) + rng.choice(["", "n", "r", "s", "t"]))
    return sorted(words)


def articles(n, seed=7):
    rng = random.Random(seed)
    words = vocabulary(rng, 20_000)
    rng.shuffle(words)
    # Zipf weights 1/rank: the first words are common, most are rare.
    weights = [1 / (r + 1) for r in range(len(words))]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    out = []
    for i in range(n):
        title = " ".join(rng.choices(words, cum_weights=cumulative, k=3))
        body = " ".join(rng.choices(words, cum_weights=cumulative, k=40))
        out.append({"_id": i, "title": title, "body": body, "status": "A" if rng.random() < 0.8 else "D"})
    return out, words


def queries(words):
    """Each search as $search and as the PostgreSQL tsquery that means the same: words are
    OR'd ($text's rule), a phrase needs its words adjacent, a negation excludes."""
    common, rare = words[0], words[2000]
    return {
        "rare word": (rare, f"plainto_tsquery('english', '{rare}')"),
        "common word": (common, f"plainto_tsquery('english', '{common}')"),
        "two words": (f"{words[50]} {words[300]}", f"to_tsquery('english', '{words[50]} | {words[300]}')"),
        "phrase": (f'"{words[0]} {words[1]}"', f"phraseto_tsquery('english', '{words[0]} {words[1]}')"),
        "word, negation": (f"{words[20]} -{words[21]}", f"to_tsquery('english', '{words[20]} & !{words[21]}')"),
    }


def median_ms(fn, rounds):
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def folio_run(binary, docs, qs, rounds):
    result = {}
    with FolioServer(binary) as server:
        client = pymongo.MongoClient(port=server.port, directConnection=True)
        coll = client.bench.articles
        start = time.perf_counter()
        for i in range(0, len(docs), 1000):
            coll.insert_many(docs[i:i + 1000], ordered=False)
        result["load s"] = time.perf_counter() - start
        start = time.perf_counter()
        coll.create_index([("title", "text"), ("body", "text")], weights={"title": 5})
        result["index build s"] = time.perf_counter() - start
        for name, (search, _) in qs.items():
            flt = {"$text": {"$search": search}, "status": "A"}
            def q():
                return list(coll.find(flt, {"score": {"$meta": "textScore"}}).sort([("score", {"$meta": "textScore"})]).limit(10))
            result[name] = median_ms(q, rounds)
            result[name + " matches"] = coll.count_documents({"$text": {"$search": search}})
        client.close()
    return result


class Postgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="folio-bench-pg-")
        self.port = free_port()
        # PostgreSQL refuses to run as root: as the postgres user then (Debian's package makes it).
        self.as_user = []
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(self.as_user + ["initdb", "-D", self.dir + "/data", "-A", "trust", "-U", "bench", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(self.as_user + ["pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/log", "-o",
                                       f"-p {self.port} -k {self.dir} -c synchronous_commit=off -c shared_buffers=256MB", "-w", "start"],
                       check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        subprocess.run(self.as_user + ["pg_ctl", "-D", self.dir + "/data", "-m", "fast", "stop"], stdout=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres_run(docs, qs, rounds):
    import psycopg
    pg = Postgres()
    result = {}
    try:
        conn = psycopg.connect(host=pg.dir, port=pg.port, user="bench", dbname="postgres", autocommit=True)
        cur = conn.cursor()
        cur.execute("""CREATE TABLE articles (id int PRIMARY KEY, title text, body text, status text,
                       tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('english', title), 'A') ||
                                                         to_tsvector('english', body)) STORED)""")
        start = time.perf_counter()
        for i in range(0, len(docs), 1000):
            with conn.transaction():
                cur.executemany("INSERT INTO articles (id, title, body, status) VALUES (%s, %s, %s, %s)",
                                [(d["_id"], d["title"], d["body"], d["status"]) for d in docs[i:i + 1000]])
        result["load s"] = time.perf_counter() - start
        start = time.perf_counter()
        cur.execute("CREATE INDEX articles_tsv ON articles USING gin (tsv)")
        result["index build s"] = time.perf_counter() - start
        cur.execute("ANALYZE articles")
        for name, (_, tsquery) in qs.items():
            sql = f"""SELECT id, title, body, status, ts_rank(tsv, q) AS score FROM articles, {tsquery} q
                      WHERE tsv @@ q AND status = 'A' ORDER BY score DESC LIMIT 10"""
            def q():
                cur.execute(sql)
                return cur.fetchall()
            result[name] = median_ms(q, rounds)
            cur.execute(f"SELECT count(*) FROM articles, {tsquery} q WHERE tsv @@ q")
            result[name + " matches"] = cur.fetchone()[0]
        conn.close()
    finally:
        pg.stop()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    docs, words = articles(args.articles)
    qs = queries(words)
    folio = folio_run(args.binary, docs, qs, args.rounds)
    pg = None if args.no_postgres else postgres_run(docs, qs, args.rounds)
    print(f"{args.articles:,} articles")
    print(f"| measure | Folio | PostgreSQL | matches (Folio / PostgreSQL) |")
    print(f"|---|---:|---:|---:|")
    for key in ["load s", "index build s"] + list(qs):
        f = folio[key]
        p = pg[key] if pg else float("nan")
        unit = "" if key.endswith(" s") else " ms"
        matches = f"{folio[key + ' matches']:,} / {pg[key + ' matches']:,}" if key in qs and pg else (
            f"{folio[key + ' matches']:,}" if key in qs else "")
        print(f"| {key}{unit} | {f:,.2f} | {p:,.2f} | {matches} |")


if __name__ == "__main__":
    main()
