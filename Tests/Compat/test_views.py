"""Views through pymongo (issue 21): create_collection with viewOn and pipeline, reads through
a view and a chain of views (find, count_documents, distinct, aggregate), list_collections,
collMod, drop, and MongoDB's errors for writes and indexes on a view."""
import pytest
from pymongo.errors import OperationFailure


def test_reads_through_views(db):
    db.orders.insert_many([{"_id": i, "status": "open" if i % 3 else "closed", "total": i * 10, "items": ["a", "b"][: i % 3]}
                           for i in range(1, 10)])
    db.create_collection("open_orders", viewOn="orders", pipeline=[{"$match": {"status": "open"}}])
    db.create_collection("big_open", viewOn="open_orders", pipeline=[{"$match": {"total": {"$gte": 50}}},
                                                                       {"$project": {"_id": 1, "total": 1}}])
    assert [d["_id"] for d in db.open_orders.find().sort("_id", 1)] == [1, 2, 4, 5, 7, 8]
    assert list(db.big_open.find({}, sort=[("total", -1)], limit=2)) == [{"_id": 8, "total": 80}, {"_id": 7, "total": 70}]
    assert db.big_open.count_documents({}) == 3
    assert db.open_orders.count_documents({"total": {"$lt": 30}}) == 2
    assert sorted(db.open_orders.distinct("items")) == ["a", "b"]
    assert list(db.big_open.aggregate([{"$group": {"_id": None, "sum": {"$sum": "$total"}}}])) == [{"_id": None, "sum": 200}]
    # A cursor over a view, batch by batch.
    assert [d["_id"] for d in db.open_orders.find(batch_size=2)] == [1, 2, 4, 5, 7, 8]
    infos = {c["name"]: c for c in db.list_collections()}
    assert infos["open_orders"]["type"] == "view"
    assert infos["open_orders"]["options"] == {"viewOn": "orders", "pipeline": [{"$match": {"status": "open"}}]}
    assert infos["orders"]["type"] == "collection"
    assert set(db.list_collection_names(filter={"type": "view"})) == {"open_orders", "big_open"}


def test_views_refuse_what_needs_a_collection(db):
    db.c.insert_one({"_id": 1})
    db.create_collection("v", viewOn="c", pipeline=[])
    for attempt in (lambda: db.v.insert_one({"_id": 2}), lambda: db.v.update_one({}, {"$set": {"x": 1}}),
                    lambda: db.v.delete_many({}), lambda: db.v.create_index("x"), lambda: list(db.v.list_indexes()),
                    lambda: db.v.find_one_and_delete({})):
        with pytest.raises(OperationFailure) as e:
            attempt()
        assert e.value.code == 166 and e.value.details["codeName"] == "CommandNotSupportedOnView"
    with pytest.raises(OperationFailure) as e:
        db.command("create", "v", viewOn="c")  # pymongo's create_collection checks the name first itself
    assert e.value.code == 48
    with pytest.raises(OperationFailure) as e:
        db.command("collMod", "c", viewOn="v", pipeline=[])
    assert e.value.code == 72
    with pytest.raises(OperationFailure) as e:
        db.create_collection("w", viewOn="w")
    assert e.value.code == 5 and e.value.details["codeName"] == "GraphContainsCycle"
    db.command("collMod", "v", viewOn="c", pipeline=[{"$match": {"_id": 2}}])
    assert db.v.count_documents({}) == 0
    db.v.drop()
    assert "v" not in db.list_collection_names()
    assert db.c.count_documents({}) == 1


def test_a_view_with_a_collation(db):
    db.people.insert_many([{"_id": 1, "name": "ann"}, {"_id": 2, "name": "Bob"}])
    db.tags.insert_many([{"_id": 1, "name": "ANN"}, {"_id": 2, "name": "bob"}])
    db.create_collection("folded", viewOn="people", collation={"locale": "en", "strength": 2})
    assert [d["_id"] for d in db.folded.find({"name": "BOB"})] == [2]
    assert db.folded.options()["collation"]["strength"] == 2
    lookup = {"$lookup": {"from": "folded", "localField": "name", "foreignField": "name", "as": "p"}}
    with pytest.raises(OperationFailure) as e:
        list(db.tags.aggregate([lookup]))
    assert e.value.code == 167
    rows = list(db.tags.aggregate([lookup, {"$project": {"n": {"$size": "$p"}}}], collation={"locale": "en", "strength": 2}))
    assert rows == [{"_id": 1, "n": 1}, {"_id": 2, "n": 1}]
    with pytest.raises(OperationFailure) as e:
        db.folded.find_one({}, collation={"locale": "fr"})
    assert e.value.code == 167
