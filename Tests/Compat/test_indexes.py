"""Indexes, the planner and explain through pymongo."""
import datetime
import time

import pymongo
import pytest
from pymongo.errors import DuplicateKeyError, OperationFailure
from bson import Int64


@pytest.fixture()
def users(db):
    db.users.insert_many([{"_id": i, "email": f"u{i}@x.io", "age": 18 + i % 60, "city": ["Oslo", "Lima", "Pune"][i % 3],
                           "tags": [f"t{i % 7}", f"t{i % 5}"]} for i in range(3000)])
    return db.users


def winning(explain):
    return explain["queryPlanner"]["winningPlan"]


def stages(plan):
    out = []
    while plan:
        out.append(plan["stage"])
        plan = plan.get("inputStage") or (plan.get("inputStages") or [None])[0]
    return out


def find_stage(plan, name):
    while plan:
        if plan["stage"] == name:
            return plan
        plan = plan.get("inputStage") or (plan.get("inputStages") or [None])[0]
    return None


def test_create_list_and_drop_indexes(users):
    assert users.create_index("email", unique=True) == "email_1"
    assert users.create_indexes([pymongo.IndexModel([("city", 1), ("age", -1)]),
                                 pymongo.IndexModel("tags", name="by_tag", sparse=True)]) == ["city_1_age_-1", "by_tag"]
    info = users.index_information()
    assert list(info) == ["_id_", "email_1", "city_1_age_-1", "by_tag"]
    assert info["email_1"] == {"v": 2, "key": [("email", 1)], "unique": True}
    assert info["by_tag"] == {"v": 2, "key": [("tags", 1)], "sparse": True}
    reply = users.database.command("createIndexes", "users", indexes=[{"key": {"age": 1}, "name": "age_1"}])
    assert (reply["numIndexesBefore"], reply["numIndexesAfter"], reply["createdCollectionAutomatically"]) == (4, 5, False)
    again = users.database.command("createIndexes", "users", indexes=[{"key": {"age": 1}, "name": "age_1"}])
    assert again["note"] == "all indexes already exist"
    users.drop_index("age_1")
    users.drop_index([("city", 1), ("age", -1)])
    assert list(users.index_information()) == ["_id_", "email_1", "by_tag"]
    users.drop_indexes()
    assert list(users.index_information()) == ["_id_"]
    stats = users.database.command("collStats", "users")
    assert stats["nindexes"] == 1 and stats["indexSizes"]["_id_"] > 0


def test_index_errors_carry_codes(users):
    users.create_index("age", name="age_idx")
    cases = [
        (lambda: users.create_index("age", name="other"), 85, "IndexOptionsConflict"),
        (lambda: users.create_index("city", name="age_idx"), 86, "IndexKeySpecsConflict"),
        (lambda: users.drop_index("nope"), 27, "IndexNotFound"),
        (lambda: users.drop_index("_id_"), 72, "InvalidOptions"),
        (lambda: users.database.command("createIndexes", "users", indexes=[{"key": {}, "name": "e"}]), 67, "CannotCreateIndex"),
        (lambda: users.database.command("createIndexes", "users", indexes=[{"key": {"a": 1}, "name": "a", "bogus": 1}]),
         197, "InvalidIndexSpecificationOption"),
        # 2dsphere indexes are built at version 3 only.
        (lambda: users.create_index([("place", "2dsphere")], **{"2dsphereIndexVersion": 2}), 115, "CommandNotSupported"),
        (lambda: list(users.find().hint("missing")), 2, "BadValue"),
    ]
    for call, code, name in cases:
        with pytest.raises(OperationFailure) as e:
            call()
        assert (e.value.code, e.value.details["codeName"]) == (code, name)


def test_unique_violations_on_insert_update_and_build(users):
    users.create_index("email", unique=True)
    with pytest.raises(DuplicateKeyError) as e:
        users.insert_one({"email": "u5@x.io"})
    assert e.value.details["keyPattern"] == {"email": 1} and e.value.details["keyValue"] == {"email": "u5@x.io"}
    assert "index: email_1 dup key: { email: \"u5@x.io\" }" in e.value.details["errmsg"]
    with pytest.raises(DuplicateKeyError):
        users.update_one({"_id": 1}, {"$set": {"email": "u2@x.io"}})
    assert users.count_documents({}) == 3000
    users.insert_one({"_id": "dup", "city": "Oslo"})
    with pytest.raises(DuplicateKeyError):
        users.create_index("city", unique=True)
    assert "city_1" not in users.index_information()
    assert users.database.command("validate", "users")["valid"] is True


def test_explain_shows_the_index_and_true_counts(users):
    users.create_index("email")
    users.create_index([("city", 1), ("age", 1)])
    explain = users.find({"email": "u42@x.io"}).explain()
    assert stages(winning(explain)) == ["FETCH", "IXSCAN"]
    ixscan = find_stage(winning(explain), "IXSCAN")
    assert ixscan["indexName"] == "email_1" and ixscan["indexBounds"] == {"email": ['["u42@x.io", "u42@x.io"]']}
    stats = explain["executionStats"]
    assert (stats["nReturned"], stats["totalKeysExamined"], stats["totalDocsExamined"]) == (1, 1, 1)
    ranged = users.find({"city": "Lima", "age": {"$gte": 30, "$lt": 40}}).sort("age", -1).explain()
    plan = winning(ranged)
    assert "SORT" not in stages(plan)
    assert find_stage(plan, "IXSCAN")["direction"] == "backward"
    assert find_stage(plan, "IXSCAN")["indexBounds"] == {"city": ['["Lima", "Lima"]'], "age": ["(40, 30]"]}
    collscan = users.find({"age": 20}).explain()
    assert winning(collscan)["stage"] == "COLLSCAN" and collscan["executionStats"]["totalDocsExamined"] == 3000
    count = users.database.command("explain", {"count": "users", "query": {"email": "u7@x.io"}}, verbosity="executionStats")
    # Only the index entries are read: the index holds the filter's field (MongoDB: COUNT_SCAN).
    assert stages(winning(count)) == ["COUNT", "IXSCAN"]
    assert count["executionStats"]["totalDocsExamined"] == 0
    agg = users.database.command("aggregate", "users", pipeline=[{"$match": {"city": "Pune"}}, {"$group": {"_id": "$age"}}], explain=True)
    assert find_stage(winning(agg["stages"][0]["$cursor"]), "IXSCAN")["indexName"] == "city_1_age_1"
    assert list(agg["stages"][1]) == ["$group"]


def test_hints_and_multikey_results(users):
    users.create_index("tags")
    assert users.count_documents({"tags": {"$in": ["t1", "t3"]}}) == len(
        [i for i in range(3000) if {f"t{i % 7}", f"t{i % 5}"} & {"t1", "t3"}])
    explain = users.find({"tags": "t1"}).explain()
    assert find_stage(winning(explain), "IXSCAN")["isMultiKey"] is True
    hinted = list(users.find({"age": 20}, {"_id": 1}).hint([("tags", 1)]))
    assert len(hinted) == 50
    natural = users.find({"tags": "t1"}).hint([("$natural", -1)]).explain()
    assert winning(natural)["stage"] == "COLLSCAN" and winning(natural)["direction"] == "backward"
    result = users.update_many({"tags": "t6"}, {"$set": {"flag": True}}, hint="tags_1")
    assert result.matched_count == len([i for i in range(3000) if i % 7 == 6])
    assert users.find_one_and_delete({"tags": "t0"}, sort=[("_id", -1)], hint="tags_1")["_id"] == 2996


def test_min_max_return_key_and_show_record_id(users):
    users.create_index([("age", 1), ("_id", -1)])
    hint = [("age", 1), ("_id", -1)]
    got = list(users.find({}, {"_id": 1}, min={"age": 20, "_id": 1000}, max={"age": 21, "_id": 2000}, hint=hint))
    expected = sorted([i for i in range(3000) if 18 + i % 60 == 20 and i <= 1000], reverse=True) + \
        sorted([i for i in range(3000) if 18 + i % 60 == 21 and i > 2000], reverse=True)
    assert [d["_id"] for d in got] == expected
    plan = winning(users.find(min={"age": 20, "_id": 1000}, hint=hint).explain())
    assert find_stage(plan, "IXSCAN")["indexBounds"]["startKey"] == {"age": 20, "_id": 1000}
    for kwargs, code in ((dict(min={"age": 20, "_id": 1}, hint="email_1"), 51174),
                         (dict(min={"age": 21, "_id": 1}, max={"age": 20, "_id": 1}, hint=hint), 51175),
                         (dict(max={"age": 20, "_id": 1}, hint=[("$natural", 1)]), 291)):
        users.create_index("email")
        with pytest.raises(OperationFailure) as e:
            list(users.find(**kwargs))
        assert e.value.code == code
    keys = list(users.find({"age": 30}, return_key=True, hint=hint))
    assert keys[0] == {"age": 30, "_id": 2952} and len(keys) == 50
    assert [type(v) for v in keys[0].values()] == [int, int]
    assert list(users.find({"email": "u5@x.io"}, return_key=True)) == [{"email": "u5@x.io"}]
    assert list(users.find({"email": "u5@x.io"}, return_key=True, hint=[("$natural", 1)])) == [{}]
    shown = users.find_one({"_id": 7}, {"age": 1}, show_record_id=True)
    assert list(shown) == ["_id", "age", "$recordId"]


def test_ttl_index_expires_documents(db):
    now = datetime.datetime.now(datetime.timezone.utc)
    db.sessions.insert_many([{"_id": 1, "at": now - datetime.timedelta(hours=2)}, {"_id": 2, "at": now},
                             {"_id": 3, "at": "not a date"}, {"_id": 4, "at": [now + datetime.timedelta(days=1), now - datetime.timedelta(days=1)]}])
    db.sessions.create_index("at", expireAfterSeconds=3600)
    assert db.sessions.index_information()["at_1"]["expireAfterSeconds"] == 3600
    deadline = time.time() + 15
    while time.time() < deadline and db.sessions.count_documents({}) > 2:
        time.sleep(0.2)
    assert sorted(d["_id"] for d in db.sessions.find()) == [2, 3]


def test_ttl_monitor_follows_its_parameters(db, client):
    """ttlMonitorEnabled stops the passes (metrics.ttl counts them) and lets them resume."""
    assert client.admin.command("getParameter", 1, ttlMonitorSleepSecs=1)["ttlMonitorSleepSecs"] == 1
    now = datetime.datetime.now(datetime.timezone.utc)
    assert client.admin.command("setParameter", 1, ttlMonitorEnabled=False)["was"] is True
    try:
        passes = client.admin.command("serverStatus")["metrics"]["ttl"]["passes"]
        db.expiring.insert_one({"_id": 1, "at": now - datetime.timedelta(hours=2)})
        db.expiring.create_index("at", expireAfterSeconds=60)
        time.sleep(2.5)
        assert db.expiring.count_documents({}) == 1
        assert client.admin.command("serverStatus")["metrics"]["ttl"]["passes"] == passes
    finally:
        client.admin.command("setParameter", 1, ttlMonitorEnabled=True)
    deadline = time.time() + 15
    while time.time() < deadline and db.expiring.count_documents({}) > 0:
        time.sleep(0.2)
    assert db.expiring.count_documents({}) == 0
    ttl = client.admin.command("serverStatus")["metrics"]["ttl"]
    assert ttl["passes"] > passes and ttl["deletedDocuments"] >= 1


def test_index_stats_and_coll_stats(users, server):
    users.create_index("email")
    list(users.find({"email": "u1@x.io"}))
    list(users.find({"email": "u2@x.io"}))
    stats = {s["name"]: s for s in users.aggregate([{"$indexStats": {}}])}
    assert set(stats) == {"_id_", "email_1"}
    assert stats["email_1"]["accesses"]["ops"] == 2 and stats["email_1"]["key"] == {"email": 1}
    assert stats["email_1"]["host"] == f"127.0.0.1:{server['port']}"
    (coll,) = users.aggregate([{"$collStats": {"count": {}, "storageStats": {}}}])
    assert coll["count"] == 3000 and coll["storageStats"]["nindexes"] == 2
    with pytest.raises(OperationFailure) as e:
        list(users.aggregate([{"$match": {}}, {"$indexStats": {}}]))
    assert e.value.code == 40602


def test_hashed_index_and_to_hashed_index_key(db):
    db.ids.insert_many([{"_id": i, "tenant": f"t{i % 5}", "v": i} for i in range(100)])
    assert db.ids.create_index([("tenant", "hashed")]) == "tenant_hashed"
    plan = db.ids.find({"tenant": "t3"}).explain()["queryPlanner"]["winningPlan"]
    scan = find_stage(plan, "IXSCAN")
    assert scan["keyPattern"] == {"tenant": "hashed"} and scan["indexName"] == "tenant_hashed"
    assert db.ids.count_documents({"tenant": {"$in": ["t3", "t4"]}}) == 40
    # The bounds are the hashes $toHashedIndexKey computes (MongoDB's published values check it).
    hashed = list(db.aggregate([{"$documents": [{"val": "string to hash"}, {"val": 42}, {}]},
                                {"$project": {"_id": 0, "h": {"$toHashedIndexKey": "$val"}}}]))
    assert hashed[0] == {"h": 763543691661428748} and hashed[1] == {"h": -944302157085130861}
    assert isinstance(hashed[0]["h"], Int64)
    t3 = list(db.aggregate([{"$documents": [{"v": "t3"}]}, {"$project": {"h": {"$toHashedIndexKey": "$v"}}}]))[0]["h"]
    assert scan["indexBounds"] == {"tenant": [f"[{t3}, {t3}]"]}
    with pytest.raises(OperationFailure) as e:
        db.ids.insert_one({"tenant": ["a", "b"]})
    assert e.value.code == 16766
    with pytest.raises(OperationFailure) as e:
        db.ids.create_index([("v", "hashed")], unique=True)
    assert e.value.code == 16764


def test_wildcard_index_keys_plans_and_errors(db):
    c = db.products
    c.insert_many([
        {"_id": 1, "attrs": {"color": "red", "size": 10}, "tags": ["a", "b"], "price": 5},
        {"_id": 2, "attrs": {"color": "blue", "dims": {"w": 3, "h": 4}}, "price": 7},
        {"_id": 3, "attrs": {"color": "red", "size": [8, 12]}, "empty": {}, "none": []},
        {"_id": 4, "attrs": {"size": 11, "a.b": 1}, "matrix": [[1, 2], [3]]},
        {"_id": 5, "other": 1},
    ])
    assert c.create_index([("$**", 1)]) == "$**_1"
    spec = [i for i in c.list_indexes() if i["name"] == "$**_1"][0]
    assert spec["key"] == {"$**": 1}

    def ids(filter, **kw):
        return sorted(d["_id"] for d in c.find(filter, **kw))

    assert ids({"attrs.color": "red"}) == [1, 3]
    plan = c.find({"attrs.color": "red"}).explain()["queryPlanner"]["winningPlan"]
    scan = find_stage(plan, "IXSCAN")
    assert scan["indexName"] == "$**_1"
    assert scan["keyPattern"] == {"$_path": 1, "attrs.color": 1}
    assert scan["indexBounds"] == {"$_path": ['["attrs.color", "attrs.color"]'], "attrs.color": ['["red", "red"]']}
    assert scan["isMultiKey"] is False
    # Arrays are walked under their own path; the path is then multikey.
    assert ids({"attrs.size": {"$gt": 9}}) == [1, 3, 4]
    scan = find_stage(c.find({"attrs.size": {"$gt": 9}}).explain()["queryPlanner"]["winningPlan"], "IXSCAN")
    assert scan["isMultiKey"] is True and scan["multiKeyPaths"] == {"$_path": [], "attrs.size": ["attrs.size"]}
    assert ids({"attrs.size": {"$gt": 9, "$lt": 11}}) == [1, 3]
    # $exists scans the path and every path below it.
    assert ids({"attrs.dims": {"$exists": True}}) == [2]
    scan = find_stage(c.find({"attrs.dims": {"$exists": True}}).explain()["queryPlanner"]["winningPlan"], "IXSCAN")
    assert scan["indexBounds"]["$_path"] == ['["attrs.dims", "attrs.dims"]', '["attrs.dims.", "attrs.dims/")']
    assert ids({"empty": {"$exists": True}}) == [3] and ids({"none": {"$exists": True}}) == [3]
    assert ids({"matrix": [1, 2]}) == [4]
    # What a wildcard index cannot answer is still answered, by a collection scan.
    for f, expected in [({"attrs.color": None}, [4, 5]), ({"attrs.color": {"$exists": False}}, [4, 5]),
                        ({"attrs": {"color": "blue", "dims": {"w": 3, "h": 4}}}, [2]), ({"_id": {"$gt": 3}}, [4, 5])]:
        assert ids(f) == expected
        assert find_stage(c.find(f).explain()["queryPlanner"]["winningPlan"], "IXSCAN") is None or f == {"_id": {"$gt": 3}}
    # The index follows writes.
    c.update_one({"_id": 5}, {"$set": {"attrs": {"color": "red"}}})
    c.delete_one({"_id": 1})
    assert ids({"attrs.color": "red"}) == [3, 5]
    assert ids({"attrs.color": "red"}, hint="$**_1") == [3, 5]
    # A sort on the queried (non-multikey) path comes from the index.
    plan = c.find({"price": {"$gt": 0}}).sort("price", -1).explain()["queryPlanner"]["winningPlan"]
    assert find_stage(plan, "SORT") is None and find_stage(plan, "IXSCAN")["direction"] == "backward"
    assert [d["_id"] for d in c.find({"price": {"$gt": 0}}).sort("price", -1)] == [2]
    assert db.validate_collection("products")["valid"] is True

    # A subtree index and a projection.
    c.drop_indexes()
    assert c.create_index([("attrs.$**", 1)]) == "attrs.$**_1"
    assert find_stage(c.find({"attrs.size": 11}).explain()["queryPlanner"]["winningPlan"], "IXSCAN")["indexName"] == "attrs.$**_1"
    assert find_stage(c.find({"price": 7}).explain()["queryPlanner"]["winningPlan"], "IXSCAN") is None
    c.create_index([("$**", 1)], name="proj", wildcardProjection={"attrs.color": 1, "price": 1})
    assert [i for i in c.list_indexes() if i["name"] == "proj"][0]["wildcardProjection"] == {"attrs.color": 1, "price": 1}
    assert find_stage(c.find({"price": 7}).explain()["queryPlanner"]["winningPlan"], "IXSCAN")["indexName"] == "proj"
    assert ids({"price": 7}) == [2]
    c.create_index([("$**", 1)], name="noattrs", wildcardProjection={"attrs": 0})
    plan = c.find({"attrs.size": 11}, hint="noattrs")
    with pytest.raises(OperationFailure) as e:
        list(plan)
    assert e.value.code == 291

    errors = [
        ({"key": {"$**": 1}, "unique": True}, 67),
        ({"key": {"$**": 1}, "sparse": True}, 67),
        ({"key": {"$**": 1}, "expireAfterSeconds": 10}, 67),
        ({"key": {"a.$**": 1}, "wildcardProjection": {"b": 1}}, 9),
        ({"key": {"a": 1}, "wildcardProjection": {"b": 1}}, 2),
        ({"key": {"$**": 1}, "wildcardProjection": {}}, 9),
        ({"key": {"$**": 1}, "wildcardProjection": {"a": 1, "b": 0}}, 31254),
        ({"key": {"$**": 0}}, 67),
    ]
    for spec, code in errors:
        with pytest.raises(OperationFailure) as e:
            db.command("createIndexes", "products", indexes=[dict(spec, name="w")])
        assert e.value.code == code, spec


def test_covered_query(db):
    c = db.people
    c.insert_many([{"_id": i, "email": f"u{i}@x.io", "age": Int64(20 + i % 50) if i % 2 else 20.0 + i % 50, "bio": "x" * 50}
                   for i in range(500)] + [{"_id": 999, "email": "noage@x.io"}])
    c.create_index([("email", 1), ("age", -1)])
    query, projection = {"email": {"$gte": "u40", "$lt": "u5"}}, {"email": 1, "age": 1, "_id": 0}
    explain = c.find(query, projection).explain()
    plan = explain["queryPlanner"]["winningPlan"]
    assert stages(plan) == ["PROJECTION_COVERED", "IXSCAN"]
    assert plan["transformBy"] == projection
    assert explain["executionStats"]["totalDocsExamined"] == 0
    covered = list(c.find(query, projection))
    fetched = list(c.find(query, projection).hint({"$natural": 1}))
    key = lambda d: d["email"]
    assert sorted(covered, key=key) == sorted(fetched, key=key)
    # Numeric types come back as stored (int64 stays int64, 21.0 stays a double); keys in index order.
    by_email = {d["email"]: d for d in covered}
    assert isinstance(by_email["u41@x.io"]["age"], Int64) and isinstance(by_email["u40@x.io"]["age"], float)
    assert list(by_email["u41@x.io"].keys()) == ["email", "age"]
    # A missing field stays missing, as in the document.
    assert list(c.find({"email": "noage@x.io"}, {"email": 1, "age": 1, "_id": 0})) == [{"email": "noage@x.io"}]
    # _id, or a field the index lacks, needs the document.
    assert "FETCH" in stages(c.find(query, {"email": 1}).explain()["queryPlanner"]["winningPlan"])
    assert "FETCH" in stages(c.find(query, {"email": 1, "bio": 1, "_id": 0}).explain()["queryPlanner"]["winningPlan"])


def test_an_index_builds_on_a_large_collection_while_another_client_writes(db, server):
    """Collections past 20,000 documents build indexes while writes go on (IndexBuild.swift):
    another client's updates, inserts and deletes during the build are all acknowledged, and
    the finished index holds exactly its documents' keys. A unique build with a duplicate
    fails with 11000 and leaves no index."""
    import random
    import threading
    c = db.big
    n = 30_000
    for b in range(0, n, 5_000):
        c.insert_many([{"_id": i, "v": i % 997, "u": i} for i in range(b, b + 5_000)])
    other = pymongo.MongoClient(f"mongodb://127.0.0.1:{server['port']}/?directConnection=true")
    stop = threading.Event()
    done = []

    def write():
        oc = other[db.name].big
        k = 0
        while not stop.is_set():
            oc.update_one({"_id": random.randrange(n)}, {"$set": {"v": random.randrange(5_000)}})
            oc.insert_one({"_id": n + k, "v": k, "u": n + k})
            oc.delete_one({"_id": random.randrange(n)})
            k += 1
        done.append(k)

    t = threading.Thread(target=write)
    t.start()
    try:
        assert c.create_index("v") == "v_1"
    finally:
        stop.set()
        t.join()
        other.close()
    assert done and done[0] > 0
    assert [i["name"] for i in c.list_indexes()] == ["_id_", "v_1"]
    v = db.command("validate", "big")
    count = c.count_documents({})
    assert v["valid"] is True and v["keysPerIndex"] == {"_id_": count, "v_1": count}
    for q in [{"v": {"$lt": 10}}, {"v": {"$gte": 997}}]:
        assert sorted(d["_id"] for d in c.find(q).hint("v_1")) == sorted(d["_id"] for d in c.find(q).hint({"$natural": 1}))
    # Two new documents share a value (the writer may have deleted any earlier one).
    c.insert_many([{"_id": -1, "u": -7}, {"_id": -2, "u": -7}])
    with pytest.raises(DuplicateKeyError) as e:
        c.create_index("u", unique=True)
    assert e.value.code == 11000 and "u_1" in str(e.value)
    assert [i["name"] for i in c.list_indexes()] == ["_id_", "v_1"]
    # maxTimeMS ends the build between its commits, and nothing of it is left.
    with pytest.raises(OperationFailure) as e:
        db.command("createIndexes", "big", indexes=[{"key": {"w": 1}, "name": "w_1"}], maxTimeMS=1)
    assert e.value.code == 50 and e.value.details["codeName"] == "MaxTimeMSExpired"
    assert [i["name"] for i in c.list_indexes()] == ["_id_", "v_1"]
    assert db.command("validate", "big")["valid"] is True


def test_an_index_build_cut_short_by_a_crash_or_a_shutdown_runs_again_at_the_next_start(folio_binary):
    """A build that kill -9 or a clean shutdown cut short is not lost (the client never got an
    answer): the next start builds the index again while it serves, as MongoDB resumes index
    builds, and logs it. Writes made while the first build waited are in the index."""
    import os
    import signal
    import threading
    from conftest import running_server
    hang = "hangIndexBuildDuringCollectionScanPhaseBeforeInsertion"

    def build_until_it_waits(client, c, key):
        client.admin.command("configureFailPoint", hang, mode="alwaysOn")
        outcome = []

        def build():
            try:
                c.create_index(key)
                outcome.append("built")
            except pymongo.errors.PyMongoError as e:
                outcome.append(e)

        t = threading.Thread(target=build)
        t.start()
        # Setting the fail point again answers how often it was entered since it was set.
        deadline = time.time() + 30
        while client.admin.command("configureFailPoint", hang, mode="alwaysOn")["count"] == 0:
            assert time.time() < deadline, "the build never reached the fail point"
            time.sleep(0.05)
        return t, outcome

    def wait_until_listed(c, name):
        deadline = time.time() + 60
        while name not in [i["name"] for i in c.list_indexes()]:
            assert time.time() < deadline, f"{name} was not built again"
            time.sleep(0.1)

    with running_server(folio_binary, "--enable-test-commands") as first:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{first['port']}/?directConnection=true", retryWrites=False,
                                     serverSelectionTimeoutMS=2000)
        c = client.app.big
        for b in range(0, 30_000, 10_000):
            c.insert_many([{"_id": i, "v": i % 997, "w": i % 13} for i in range(b, b + 10_000)])
        t, outcome = build_until_it_waits(client, c, "v")
        assert [i["name"] for i in c.list_indexes()] == ["_id_"]
        # currentOp shows how far the build is, as MongoDB's does (it waits before its first keys).
        ops = client.admin.command({"currentOp": 1, "command.createIndexes": "big"})["inprog"]
        assert len(ops) == 1
        phase = "Index Build: inserting keys from external sorter into index"
        assert ops[0]["msg"] == f"{phase} {phase}: 0/30000 0%"
        assert ops[0]["progress"] == {"done": 0, "total": 30_000}
        assert type(ops[0]["progress"]["total"]) is Int64
        c.update_many({"_id": {"$lt": 100}}, {"$set": {"v": -1}})
        c.insert_one({"_id": -1, "v": -1, "w": -1})
        os.kill(first["process"].pid, signal.SIGKILL)
        first["process"].wait()
        t.join()
        assert len(outcome) == 1 and outcome[0] != "built"

    with running_server(folio_binary, "--enable-test-commands", data=first["data"], port=first["port"]) as second:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{second['port']}/?directConnection=true", retryWrites=False,
                                     serverSelectionTimeoutMS=2000)
        c = client.app.big
        wait_until_listed(c, "v_1")
        v = client.app.command("validate", "big")
        assert v["valid"] is True and v["keysPerIndex"] == {"_id_": 30_001, "v_1": 30_001}
        assert sorted(d["_id"] for d in c.find({"v": -1}).hint("v_1")) == [-1] + list(range(100))
        # A clean shutdown interrupts the build (the client gets an error or a closed connection).
        t, outcome = build_until_it_waits(client, c, "w")
        second["process"].terminate()
        assert second["process"].wait(timeout=30) == 0
        t.join()
        assert len(outcome) == 1 and outcome[0] != "built"

    with running_server(folio_binary, data=first["data"], port=first["port"]) as third:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{third['port']}/?directConnection=true")
        c = client.app.big
        wait_until_listed(c, "w_1")
        v = client.app.command("validate", "big")
        assert v["valid"] is True and v["keysPerIndex"] == {"_id_": 30_001, "v_1": 30_001, "w_1": 30_001}
        assert c.count_documents({"w": 12}, hint="w_1") == c.count_documents({"w": 12}, hint={"$natural": 1}) > 0
        deadline = time.time() + 10
        while True:
            third["output"].seek(0)
            if "Index build started again at startup completed" in third["output"].read():
                break
            assert time.time() < deadline, "the build's end was not logged"
            time.sleep(0.2)
        client.close()
