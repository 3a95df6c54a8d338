"""CRUD through pymongo: values, types, reply shapes and error codes as MongoDB returns them."""
import bson
import pymongo
import pytest
from bson.int64 import Int64


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


def test_collation_simple_is_accepted_and_others_are_refused(db):
    # Folio compares strings as MongoDB's simple collation does; any other collation would
    # change results, so it is refused (115) rather than ignored.
    from pymongo.collation import Collation
    db.people.insert_many([{"_id": 1, "name": "x"}, {"_id": 2, "name": "X"}])
    assert [d["_id"] for d in db.people.find({"name": "x"}, collation=Collation("simple"))] == [1]
    assert db.people.count_documents({}, collation={"locale": "simple"}) == 2
    refused = [
        lambda: list(db.people.find({"name": "x"}, collation=Collation("en", strength=2))),
        lambda: list(db.people.aggregate([], collation={"locale": "fr"})),
        lambda: db.people.count_documents({}, collation={"locale": "en"}),
        lambda: db.people.distinct("name", collation={"locale": "en"}),
        lambda: db.people.delete_many({"name": "q"}, collation={"locale": "en"}),
        lambda: db.people.update_one({"name": "q"}, {"$set": {"a": 1}}, collation={"locale": "en"}),
        lambda: db.people.find_one_and_update({"name": "q"}, {"$set": {"a": 1}}, collation={"locale": "en"}),
        lambda: db.command({"explain": {"find": "people", "collation": {"locale": "en"}}}),
    ]
    for call in refused:
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            call()
        assert e.value.code == 115 and e.value.details["codeName"] == "CommandNotSupported"
    assert db.people.count_documents({}) == 2
    for bad, code in (("en", 14), ({"strength": 2}, 40414), ({"locale": "en", "bogus": 1}, 40415),
                      ({"locale": "simple", "strength": 1}, 2)):
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            db.command({"find": "people", "collation": bad})
        assert e.value.code == code
