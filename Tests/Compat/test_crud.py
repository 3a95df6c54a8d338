"""CRUD through pymongo: values, types, reply shapes and error codes as MongoDB returns them."""
import os
import signal

import bson
import pymongo
import pytest
from bson.int64 import Int64

from conftest import running_server


def test_insert_find_types_and_id_first(db):
    r = db.c.insert_one({"a": 1, "b": Int64(2), "c": 1.5, "d": bson.Decimal128("1.10")})
    doc = db.c.find_one({"_id": r.inserted_id})
    assert list(doc.keys())[0] == "_id" and isinstance(doc["_id"], bson.ObjectId)
    assert type(doc["a"]) is int and isinstance(doc["b"], Int64) and doc["c"] == 1.5
    assert str(doc["d"]) == "1.10"


def test_insert_many_ordered_and_unordered_errors(db):
    db.c.insert_one({"_id": 2})
    with pytest.raises(pymongo.errors.BulkWriteError) as e:
        db.c.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3}])
    details = e.value.details
    assert details["nInserted"] == 1 and details["writeErrors"][0]["index"] == 1
    assert details["writeErrors"][0]["code"] == 11000
    with pytest.raises(pymongo.errors.BulkWriteError) as e:
        db.c.insert_many([{"_id": 4}, {"_id": 2}, {"_id": 5}], ordered=False)
    assert e.value.details["nInserted"] == 2
    assert db.c.estimated_document_count() == 4


def test_counts_are_exact_after_a_clean_restart_and_after_kill_9(folio_binary):
    """estimatedDocumentCount and countDocuments({}) come from counts the commits keep: a clean
    stop saves them for the next start (which does not count), kill -9 leaves none (the next
    start counts), and writes in between are never lost from them."""
    def counts(port):
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=5000)
        try:
            return [(client.app[c].estimated_document_count(), client.app[c].count_documents({})) for c in ("a", "b")]
        finally:
            client.close()

    with running_server(folio_binary) as first:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{first['port']}/?directConnection=true")
        client.app.a.insert_many([{"_id": i} for i in range(1000)])
        client.app.a.delete_many({"_id": {"$lt": 100}})
        client.app.b.insert_many([{"_id": i} for i in range(5)])
        client.close()
    with running_server(folio_binary, data=first["data"], port=first["port"]) as second:
        assert counts(second["port"]) == [(900, 900), (5, 5)]
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{second['port']}/?directConnection=true")
        client.app.a.insert_many([{"_id": -i} for i in range(1, 51)])
        client.app.b.drop()
        client.close()
        os.kill(second["process"].pid, signal.SIGKILL)
        second["process"].wait()
    with running_server(folio_binary, data=first["data"], port=first["port"]) as third:
        assert counts(third["port"]) == [(950, 950), (0, 0)]


def test_duplicate_key_error_shape(db):
    db.c.insert_one({"_id": "a@b.c"})
    with pytest.raises(pymongo.errors.DuplicateKeyError) as e:
        db.c.insert_one({"_id": "a@b.c"})
    assert e.value.code == 11000
    assert e.value.details["keyPattern"] == {"_id": 1}
    assert e.value.details["keyValue"] == {"_id": "a@b.c"}
    assert e.value.details["errmsg"].startswith(f"E11000 duplicate key error collection: {db.name}.c index: _id_ dup key: {{ _id: \"a@b.c\" }}")


def test_updates_report_n_and_nmodified(db):
    db.c.insert_many([{"_id": i, "g": i % 2} for i in range(6)])
    r = db.c.update_many({"g": 0}, {"$set": {"x": 1}})
    assert (r.matched_count, r.modified_count) == (3, 3)
    r = db.c.update_many({"g": 0}, {"$set": {"x": 1}})
    assert (r.matched_count, r.modified_count) == (3, 0)
    r = db.c.update_one({"_id": 99}, {"$set": {"y": 1}}, upsert=True)
    assert r.upserted_id == 99 and r.raw_result["n"] == 1
    r = db.c.replace_one({"_id": 1}, {"replaced": True})
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "replaced": True}
    with pytest.raises(pymongo.errors.WriteError) as e:
        db.c.update_one({"_id": 1}, {"$inc": {"replaced": 1}})
    assert e.value.code == 14


def test_find_and_modify_and_delete(db):
    db.c.insert_many([{"_id": i, "v": i} for i in range(5)])
    doc = db.c.find_one_and_update({"v": {"$gte": 2}}, {"$inc": {"v": 10}}, sort=[("v", -1)],
                                   return_document=pymongo.ReturnDocument.AFTER)
    assert doc == {"_id": 4, "v": 14}
    assert db.c.find_one_and_delete({"_id": 0}) == {"_id": 0, "v": 0}
    assert db.c.delete_many({"v": {"$lt": 3}}).deleted_count == 2
    assert db.c.delete_one({"_id": 4}).deleted_count == 1


def test_cursors_get_more_and_kill(db, client):
    db.c.insert_many([{"_id": i} for i in range(1000)])
    cursor = db.c.find({}, sort=[("_id", 1)], batch_size=100)
    first = [next(cursor) for _ in range(150)]
    # A second client can work while the first is mid-cursor.
    other = pymongo.MongoClient(client.address[0], client.address[1], directConnection=True)
    assert other[db.name].c.estimated_document_count() == 1000
    other.close()
    rest = list(cursor)
    assert [d["_id"] for d in first + rest] == list(range(1000))
    raw = db.command("find", "c", batchSize=10)
    assert raw["cursor"]["id"] != 0 and len(raw["cursor"]["firstBatch"]) == 10
    killed = db.command("killCursors", "c", cursors=[raw["cursor"]["id"]])
    assert killed["cursorsKilled"] == [raw["cursor"]["id"]]
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        db.command("getMore", raw["cursor"]["id"], collection="c")
    assert e.value.code == 43 and e.value.details["codeName"] == "CursorNotFound"


def test_default_first_batch_is_101(db):
    db.c.insert_many([{"_id": i} for i in range(300)])
    reply = db.command("find", "c")
    assert len(reply["cursor"]["firstBatch"]) == 101 and isinstance(reply["cursor"]["id"], Int64)
    assert reply["cursor"]["ns"] == f"{db.name}.c"


def test_count_distinct_and_catalog(db, client):
    db.c.insert_many([{"k": k} for k in ["a", "b", "a", ["c", "a"]]])
    assert db.command("count", "c", query={"k": "a"})["n"] == 3
    assert sorted(db.c.distinct("k")) == ["a", "b", "c"]
    db.create_collection("made")
    assert set(db.list_collection_names()) == {"c", "made"}
    with pytest.raises(pymongo.errors.CollectionInvalid):
        db.create_collection("made", capped=True, size=100)
    assert db.name in client.list_database_names()
    assert [i["name"] for i in db.c.list_indexes()] == ["_id_"]
    db.c.rename("renamed")
    assert set(db.list_collection_names()) == {"renamed", "made"}
    db.drop_collection("made")
    assert db.list_collection_names() == ["renamed"]


def test_errors_carry_code_and_codename(db):
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        db.command("nosuchcommand")
    assert e.value.code == 59 and e.value.details["codeName"] == "CommandNotFound"
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        list(db.c.find({"a": {"$foo": 1}}))
    assert e.value.code == 2 and "unknown operator: $foo" in e.value.details["errmsg"]
    with pytest.raises(pymongo.errors.WriteError) as e:
        db.c.insert_one({"_id": [1, 2]})
    assert e.value.code == 53


def test_collation_compares_strings_by_locale(db):
    from pymongo.collation import Collation
    db.people.insert_many([{"_id": 1, "name": "ping"}, {"_id": 2, "name": "PING"}, {"_id": 3, "name": "péng"},
                           {"_id": 4, "name": "a10"}, {"_id": 5, "name": "a9"}, {"_id": 6, "name": 7}])
    en2 = Collation("en", strength=2)
    # The simple collation is binary comparison, as without one.
    assert [d["_id"] for d in db.people.find({"name": "ping"}, collation=Collation("simple"))] == [1]
    # Strength 2 ignores case (not accents): filters, counts, distinct, $expr, $in, $ne.
    assert [d["_id"] for d in db.people.find({"name": "Ping"}, collation=en2)] == [1, 2]
    assert [d["_id"] for d in db.people.find({"name": {"$in": ["PENG", "PÉNG"]}}, collation=en2)] == [3]
    assert db.people.count_documents({"name": {"$ne": "PING"}}, collation=en2) == 4
    assert db.people.distinct("name", {"_id": {"$lte": 3}}, collation=en2) == ["ping", "péng"]
    assert [d["_id"] for d in db.people.aggregate([{"$match": {"$expr": {"$eq": ["$name", "PiNg"]}}}], collation=en2)] == [1, 2]
    # Sorting: numericOrdering sorts digits by value; strength 1 ties case and accents (stable).
    strings = {"name": {"$type": "string"}}
    assert [d["_id"] for d in db.people.find(strings, sort=[("name", 1)])] == [2, 4, 5, 1, 3]
    assert [d["_id"] for d in db.people.find(strings, sort=[("name", 1)], collation=Collation("en", numericOrdering=True))] == [5, 4, 3, 1, 2]
    # $group keys equal under the collation share a group, which keeps the first _id seen.
    groups = list(db.people.aggregate([{"$group": {"_id": "$name", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}],
                                      collation=Collation("en", strength=1)))
    assert groups == [{"_id": 7, "n": 1}, {"_id": "a10", "n": 1}, {"_id": "a9", "n": 1}, {"_id": "péng", "n": 1}, {"_id": "ping", "n": 2}]
    # Writes target through the collation too.
    assert db.people.update_many({"name": "PING"}, {"$set": {"seen": True}}, collation=en2).modified_count == 2
    assert db.people.find_one_and_delete({"name": "PÉNG"}, collation=en2)["_id"] == 3
    assert db.people.delete_many({"name": "ping"}, collation=en2).deleted_count == 2
    # An index answers no collated string predicate (its keys are binary), yet results stay right.
    db.people.create_index("name")
    assert [d["_id"] for d in db.people.find({"name": "A9"}, collation=en2)] == [5]
    plan = db.command("explain", {"find": "people", "filter": {"name": "A9"}, "collation": {"locale": "en", "strength": 2}})
    assert plan["queryPlanner"]["winningPlan"]["stage"] == "COLLSCAN"
    assert plan["queryPlanner"]["parsedQuery"] == {"name": {"$eq": "A9"}}


def test_collation_errors(db):
    db.people.insert_one({"_id": 1})
    for bad, code in (("en", 14), ({"strength": 2}, 40414), ({"locale": "en", "bogus": 1}, 40415),
                      ({"locale": "simple", "strength": 1}, 2), ({"locale": "xx"}, 2), ({"locale": ""}, 2),
                      ({"locale": "en", "strength": 6}, 9), ({"locale": "en", "caseFirst": "sideways"}, 2),
                      ({"locale": "en", "strength": 1, "backwards": True}, 2),
                      ({"locale": "en", "strength": 2, "caseFirst": "upper"}, 2)):
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            db.command({"find": "people", "collation": bad})
        assert e.value.code == code, bad
    # A statement's invalid collation is that statement's write error.
    with pytest.raises(pymongo.errors.WriteError) as e:
        db.people.update_one({}, {"$set": {"a": 1}}, collation={"locale": "xx"})
    assert e.value.code == 2
    # Collections, views and indexes keep the simple collation: a default is refused, not ignored.
    for call in (lambda: db.create_collection("fr", collation={"locale": "fr"}),
                 lambda: db.people.create_index("a", collation={"locale": "fr"})):
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            call()
        assert e.value.code == 115 and e.value.details["codeName"] == "CommandNotSupported"
    db.create_collection("plain", collation={"locale": "simple"})


def test_write_concerns_one_member_cannot_satisfy_are_reported_not_ignored(db):
    """w: 2 on a one-member replica set: the write is applied, and the driver raises the
    write concern error MongoDB answers (100 UnsatisfiableWriteConcern); a tag set is 79."""
    import pymongo.errors
    from pymongo import WriteConcern
    with pytest.raises(pymongo.errors.WriteConcernError) as two:
        db.get_collection("wc", write_concern=WriteConcern(w=2)).insert_one({"_id": 1})
    assert two.value.code == 100
    with pytest.raises(pymongo.errors.WriteConcernError) as tagged:
        db.get_collection("wc", write_concern=WriteConcern(w="dc-east")).insert_one({"_id": 2})
    assert tagged.value.code == 79
    assert db.wc.count_documents({}) == 2
    db.get_collection("wc", write_concern=WriteConcern(w="majority", j=True)).insert_one({"_id": 3})
    assert db.wc.count_documents({}) == 3


def test_reads_after_writes_see_the_latest_version(db):
    """Documents read (so held in the server's record cache) and then written are read back
    as last committed: updated, replaced, left alone by a failed or aborted write, deleted;
    and by an indexed field after the field changed."""
    c = db.cache
    c.create_index("u", unique=True)
    c.create_index("s")
    c.insert_many([{"_id": 1, "v": 0, "s": 1}, {"_id": 2, "u": "a"}, {"_id": 3, "u": "b"}])
    for i in (1, 2, 3):
        assert c.find_one({"_id": i})["_id"] == i
    assert c.find_one({"s": 1})["_id"] == 1

    c.update_one({"_id": 1}, {"$set": {"v": 1}})
    assert c.find_one({"_id": 1})["v"] == 1
    c.replace_one({"_id": 1}, {"v": 2, "s": 2})
    assert c.find_one({"_id": 1}) == {"_id": 1, "v": 2, "s": 2}
    assert c.find_one({"s": 1}) is None and c.find_one({"s": 2})["_id"] == 1
    assert c.find_one_and_update({"_id": 1}, {"$inc": {"v": 1}}, return_document=pymongo.ReturnDocument.AFTER)["v"] == 3
    assert c.find_one({"_id": 1})["v"] == 3

    # A write that fails changes nothing, alone or among others that succeed.
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        c.update_one({"_id": 3}, {"$set": {"u": "a"}})
    assert c.find_one({"_id": 3}) == {"_id": 3, "u": "b"}
    with pytest.raises(pymongo.errors.BulkWriteError):
        c.bulk_write([pymongo.UpdateOne({"_id": 2}, {"$set": {"x": 1}}),
                      pymongo.UpdateOne({"_id": 3}, {"$set": {"u": "a", "y": 1}}),
                      pymongo.UpdateOne({"_id": 3}, {"$set": {"z": 1}})], ordered=False)
    assert c.find_one({"_id": 2}) == {"_id": 2, "u": "a", "x": 1}
    assert c.find_one({"_id": 3}) == {"_id": 3, "u": "b", "z": 1}

    # An aborted transaction leaves the cached version; a committed one replaces it.
    with db.client.start_session() as s:
        s.start_transaction()
        c.update_one({"_id": 2}, {"$set": {"x": 2}}, session=s)
        s.abort_transaction()
    assert c.find_one({"_id": 2})["x"] == 1
    with db.client.start_session() as s:
        s.start_transaction()
        c.update_one({"_id": 2}, {"$set": {"x": 3}}, session=s)
        s.commit_transaction()
    assert c.find_one({"_id": 2})["x"] == 3

    c.delete_one({"_id": 1})
    assert c.find_one({"_id": 1}) is None and c.find_one({"s": 2}) is None


def test_large_documents_round_trip_update_and_stream(db):
    """Documents too large for a B-tree cell (the storage's side table) read, update, replace,
    delete and stream like small ones, up to the largest BSON document the server allows."""
    sizes = {"5k": 5_000, "100k": 100_000, "1m": 1_000_000}
    coll = db.large
    with coll.watch() as stream:
        coll.insert_many([{"_id": k, "pad": "a" * n, "n": 0} for k, n in sizes.items()])
        events = [stream.next() for _ in sizes]
    assert [e["fullDocument"]["_id"] for e in events] == list(sizes)
    assert [len(e["fullDocument"]["pad"]) for e in events] == list(sizes.values())
    # The largest document: exactly maxBsonObjectSize bytes.
    limit = db.client.admin.command("hello")["maxBsonObjectSize"]
    biggest = {"_id": "max", "pad": ""}
    biggest["pad"] = "m" * (limit - len(bson.encode(biggest)))
    assert len(bson.encode(biggest)) == limit
    coll.insert_one(biggest)
    assert coll.find_one({"_id": "max"})["pad"] == biggest["pad"]
    # Updates of a field next to the large one keep it; a small replacement and a large one again.
    with pytest.raises(pymongo.errors.WriteError) as grown:
        coll.update_one({"_id": "max"}, {"$set": {"n": 1}})
    assert grown.value.code == 17419
    coll.update_many({"_id": {"$ne": "max"}}, {"$inc": {"n": 1}})
    assert {d["_id"]: (len(d["pad"]), d["n"]) for d in coll.find({"_id": {"$ne": "max"}})} == {k: (n, 1) for k, n in sizes.items()}
    assert coll.replace_one({"_id": "100k"}, {"small": True}).modified_count == 1
    assert coll.find_one({"_id": "100k"}) == {"_id": "100k", "small": True}
    coll.update_one({"_id": "100k"}, {"$set": {"pad": "b" * 200_000}})
    assert len(coll.find_one({"_id": "100k"})["pad"]) == 200_000
    assert coll.delete_one({"_id": "5k"}).deleted_count == 1
    assert sorted(d["_id"] for d in coll.find({}, {"_id": 1})) == ["100k", "1m", "max"]
    assert coll.count_documents({"pad": {"$regex": "^b"}}) == 1
    stats = db.command("collStats", "large")
    assert stats["count"] == 3 and stats["size"] > limit + 1_200_000
