# Collation cost through pymongo: binary vs {locale: "en", strength: 2} on 100,000 documents.
# Run from the repository root after `swift build -c release --product folio`:
#   .venv/bin/python scripts/bench-collation.py
import subprocess, time, socket, shutil
from pymongo import MongoClient
from pymongo.collation import Collation
s=socket.socket(); s.bind(("127.0.0.1",0)); port=s.getsockname()[1]; s.close()
shutil.rmtree("/tmp/collbench", ignore_errors=True)
p=subprocess.Popen([".build/release/folio","serve","--port",str(port),"--dbpath","/tmp/collbench"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1.5)
try:
    c=MongoClient(port=port); db=c.t
    N=100000
    for i in range(0, N, 10000):
        db.p.insert_many([{"_id": j, "name": f"User {j % 5000} Müller", "city": ["Paris","berlin","Oslo","oslo"][j % 4]} for j in range(i, i+10000)])
    en2=Collation("en", strength=2)
    def t(label, f, reps=3):
        best=1e9
        for _ in range(reps):
            t0=time.perf_counter(); r=f(); best=min(best, time.perf_counter()-t0)
        print(f"{label}: {best*1000:.0f} ms ({N/best/1e6:.2f} M docs/s) -> {r}")
    t("count name eq, binary", lambda: db.p.count_documents({"name": "User 42 Müller"}))
    t("count name eq, en strength 2", lambda: db.p.count_documents({"name": "user 42 müller"}, collation=en2))
    t("sort by name, binary (100K, top 1)", lambda: next(db.p.find({}, sort=[("name",1)], limit=1))["_id"])
    t("sort by name, en strength 2 (100K, top 1)", lambda: next(db.p.find({}, sort=[("name",1)], limit=1, collation=en2))["_id"])
    t("group by city, binary", lambda: len(list(db.p.aggregate([{"$group": {"_id": "$city", "n": {"$sum": 1}}}]))))
    t("group by city, en strength 2", lambda: len(list(db.p.aggregate([{"$group": {"_id": "$city", "n": {"$sum": 1}}}], collation=en2))))
finally:
    p.kill()
