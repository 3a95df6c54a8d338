"""Geo queries side by side: Folio's 2dsphere index (pymongo) against PostGIS (psycopg, a GiST
index on geography points), on the same generated places, in one run.

Places are points spread uniformly over a 50 km × 45 km box around New York, each with a
status ("open" for 70%): stores, drivers, people. Measured: loading (insert_many of 1,000;
executemany of 1,000 rows per transaction), building the geo index over the stored places, and
the median milliseconds of: the 10 nearest open places ($near + filter + limit; ORDER BY
geom <-> point LIMIT 10), everything within 500 m in distance order ($near $maxDistance;
ST_DWithin + ORDER BY distance), within a 1 km square ($geoWithin $geometry; ST_Within), within
1 km of a point ($geoWithin $centerSphere; ST_DWithin), and $geoNear with distances. For Folio
also the documents and keys each query examined (explain), against the collection's size.

    .venv/bin/pip install 'psycopg[binary]'; apt-get install postgresql-15-postgis-3   # once
    .venv/bin/python Benchmarks/Wire/geo_bench.py --binary .build/release/folio --places 1000000
"""
import argparse
import math
import random
import statistics
import time

import pymongo

from benchserver import FolioServer
from text_bench import Postgres, median_ms

CENTER = (-73.9857, 40.7484)
EARTH = 6378.1 * 1000


def places(n, seed=11):
    rng = random.Random(seed)
    return [{"_id": i, "loc": {"type": "Point", "coordinates": [round(rng.uniform(-74.3, -73.7), 6), round(rng.uniform(40.55, 40.95), 6)]},
             "status": "open" if rng.random() < 0.7 else "closed"} for i in range(n)]


def square(center, half_meters):
    dlat = math.degrees(half_meters / EARTH)
    dlng = dlat / math.cos(math.radians(center[1]))
    x0, x1, y0, y1 = center[0] - dlng, center[0] + dlng, center[1] - dlat, center[1] + dlat
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def point(c):
    return {"type": "Point", "coordinates": list(c)}


def folio_queries(coll):
    box = {"type": "Polygon", "coordinates": [square(CENTER, 500)]}
    return {
        "10 nearest open": lambda: list(coll.find({"loc": {"$near": {"$geometry": point(CENTER)}}, "status": "open"}).limit(10)),
        "within 500 m, by distance": lambda: list(coll.find({"loc": {"$near": {"$geometry": point(CENTER), "$maxDistance": 500}}})),
        "within a 1 km square": lambda: list(coll.find({"loc": {"$geoWithin": {"$geometry": box}}})),
        "within 1 km of a point": lambda: list(coll.find({"loc": {"$geoWithin": {"$centerSphere": [list(CENTER), 1000 / EARTH]}}})),
        "$geoNear, 10 with distances": lambda: list(coll.aggregate([{"$geoNear": {"near": point(CENTER), "distanceField": "d"}}, {"$limit": 10}])),
    }


def folio_run(binary, docs, rounds):
    result = {}
    with FolioServer(binary) as server:
        client = pymongo.MongoClient(port=server.port, directConnection=True)
        coll = client.bench.places
        start = time.perf_counter()
        for i in range(0, len(docs), 1000):
            coll.insert_many(docs[i:i + 1000], ordered=False)
        result["load s"] = time.perf_counter() - start
        start = time.perf_counter()
        coll.create_index([("loc", "2dsphere")])
        result["index build s"] = time.perf_counter() - start
        for name, q in folio_queries(coll).items():
            result[name] = median_ms(q, rounds)
            result[name + " n"] = len(q())
        # What the queries examined (explain of the find forms).
        for name, flt, limit in [("10 nearest open", {"loc": {"$near": {"$geometry": point(CENTER)}}, "status": "open"}, 10),
                                 ("within 500 m, by distance", {"loc": {"$near": {"$geometry": point(CENTER), "$maxDistance": 500}}}, 0),
                                 ("within a 1 km square", {"loc": {"$geoWithin": {"$geometry": {"type": "Polygon", "coordinates": [square(CENTER, 500)]}}}}, 0),
                                 ("within 1 km of a point", {"loc": {"$geoWithin": {"$centerSphere": [list(CENTER), 1000 / EARTH]}}}, 0)]:
            stats = coll.find(flt).limit(limit).explain()["executionStats"]
            result[name + " examined"] = (stats["totalKeysExamined"], stats["totalDocsExamined"])
        client.close()
    return result


def postgres_run(docs, rounds):
    import psycopg
    pg = Postgres()
    result = {}
    try:
        conn = psycopg.connect(host=pg.dir, port=pg.port, user="bench", dbname="postgres", autocommit=True)
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION postgis")
        cur.execute("CREATE TABLE places (id int PRIMARY KEY, status text, geom geography(Point, 4326))")
        start = time.perf_counter()
        for i in range(0, len(docs), 1000):
            with conn.transaction():
                cur.executemany("INSERT INTO places VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)",
                                [(d["_id"], d["status"], *d["loc"]["coordinates"]) for d in docs[i:i + 1000]])
        result["load s"] = time.perf_counter() - start
        start = time.perf_counter()
        cur.execute("CREATE INDEX places_geom ON places USING gist (geom)")
        result["index build s"] = time.perf_counter() - start
        cur.execute("ANALYZE places")
        p = f"ST_SetSRID(ST_MakePoint({CENTER[0]}, {CENTER[1]}), 4326)::geography"
        ring = ", ".join(f"{x} {y}" for x, y in square(CENTER, 500))
        box = f"ST_GeogFromText('SRID=4326;POLYGON(({ring}))')"
        sqls = {
            "10 nearest open": f"SELECT id, status, geom FROM places WHERE status = 'open' ORDER BY geom <-> {p} LIMIT 10",
            "within 500 m, by distance": f"SELECT id, status, geom FROM places WHERE ST_DWithin(geom, {p}, 500) ORDER BY ST_Distance(geom, {p})",
            "within a 1 km square": f"SELECT id, status, geom FROM places WHERE ST_Intersects(geom, {box})",
            "within 1 km of a point": f"SELECT id, status, geom FROM places WHERE ST_DWithin(geom, {p}, 1000)",
            "$geoNear, 10 with distances": f"SELECT id, status, geom, ST_Distance(geom, {p}) FROM places ORDER BY geom <-> {p} LIMIT 10",
        }
        for name, sql in sqls.items():
            def q():
                cur.execute(sql)
                return cur.fetchall()
            result[name] = median_ms(q, rounds)
            result[name + " n"] = len(q())
        conn.close()
    finally:
        pg.stop()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--places", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    docs = places(args.places)
    folio = folio_run(args.binary, docs, args.rounds)
    pg = None if args.no_postgres else postgres_run(docs, args.rounds)
    print(f"{args.places:,} places")
    print("| measure | Folio | PostGIS | results (Folio / PostGIS) | Folio keys / docs examined |")
    print("|---|---:|---:|---:|---:|")
    for key in ["load s", "index build s"] + list(folio_queries(None)):
        f = folio[key]
        p = pg[key] if pg else float("nan")
        unit = "" if key.endswith(" s") else " ms"
        n = f"{folio[key + ' n']:,} / {pg[key + ' n']:,}" if key + " n" in folio and pg else (f"{folio[key + ' n']:,}" if key + " n" in folio else "")
        ex = folio.get(key + " examined")
        exs = f"{ex[0]:,} / {ex[1]:,}" if ex else ""
        print(f"| {key}{unit} | {f:,.2f} | {p:,.2f} | {n} | {exs} |")


if __name__ == "__main__":
    main()
