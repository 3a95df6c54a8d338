"""Capped collections through pymongo (issues 21 and 22): create_collection with capped, size and
max as MongoDB stores them, insertion order and deletion of the oldest documents, collStats,
collMod's cappedSize/cappedMax, and MongoDB's errors (options, oversized documents,
transactions, $out)."""
import pytest
from bson import Int64
from pymongo.errors import OperationFailure, WriteError


def test_insertion_order_and_limits(db):
    db.create_collection("log", capped=True, size=4096, max=5)
    info = next(db.list_collections(filter={"name": "log"}))
    assert info["options"] == {"capped": True, "size": 4096, "max": 5}
    assert type(info["options"]["size"]) is int
    for i in range(8):
        db.log.insert_one({"_id": 100 - i, "i": i})
    assert [d["i"] for d in db.log.find()] == [3, 4, 5, 6, 7]
    assert [d["i"] for d in db.log.find().sort("$natural", -1)] == [7, 6, 5, 4, 3]
    assert [d["i"] for d in db.log.find().hint([("$natural", -1)]).limit(2)] == [7, 6]
    assert [d["i"] for d in db.log.find().sort("_id", 1)] == [7, 6, 5, 4, 3]
    stats = db.command("collStats", "log")
    assert (stats["capped"], stats["max"], stats["maxSize"], stats["count"]) == (True, 5, 4096, 5)
    assert db.log.options() == {"capped": True, "size": 4096, "max": 5}
    # The size limit: ~1 KB documents in 4 KB.
    db.log.insert_many([{"n": n, "pad": "x" * 1000} for n in range(6)])
    assert [d["n"] for d in db.log.find()] == [3, 4, 5]
    assert db.command("collStats", "log")["size"] <= 4096
    # Deletes and updates that change a document's size are allowed (MongoDB 5.0 / 5.3).
    db.log.delete_one({"n": 4})
    db.log.update_one({"n": 3}, {"$set": {"pad": "y"}})
    assert [d["n"] for d in db.log.find()] == [3, 5]
    assert db.command("validate", "log")["valid"] is True


def test_option_and_write_errors(db, client):
    for options, code in [({"capped": True}, 72), ({"size": 100}, 72), ({"capped": True, "size": 0}, 51024),
                          ({"capped": True, "size": 100, "max": 2 ** 31}, 51022)]:
        with pytest.raises(OperationFailure) as e:
            db.create_collection("bad", **options)
        assert e.value.code == code, options
    assert "bad" not in db.list_collection_names()
    db.create_collection("big", capped=True, size=2 ** 40, max=0)
    assert db.big.options() == {"capped": True, "size": Int64(2 ** 40), "max": 2 ** 31 - 1}
    db.create_collection("small", capped=True, size=500)
    with pytest.raises(WriteError) as e:
        db.small.insert_one({"pad": "x" * 600})
    assert (e.value.code, e.value.details["errmsg"]) == (2, "object to insert exceeds cappedMaxSize")
    db.small.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as e:
        list(db.small.aggregate([{"$out": "small"}]))
    assert e.value.code == 17152
    with client.start_session() as s:
        with pytest.raises(OperationFailure) as e:
            with s.start_transaction():
                db.small.insert_one({"_id": 2}, session=s)
        assert e.value.code == 263
        with s.start_transaction():
            assert db.small.find_one({}, session=s) == {"_id": 1}


def test_coll_mod_changes_the_limits(db):
    db.create_collection("log", capped=True, size=100000, max=10)
    db.log.insert_many([{"n": n} for n in range(10)])
    db.command("collMod", "log", cappedMax=3)
    assert db.log.options() == {"capped": True, "size": 100000, "max": 3}
    db.log.insert_one({"n": 10})
    assert [d["n"] for d in db.log.find()] == [8, 9, 10]
    db.create_collection("plain")
    with pytest.raises(OperationFailure) as e:
        db.command("collMod", "plain", cappedSize=1000)
    assert e.value.code == 72


def test_tailable_await_cursor(db):
    import threading
    import time
    from pymongo import CursorType
    db.create_collection("feed", capped=True, size=100000, max=5)
    # A tailable cursor on an empty capped collection is closed at once, as in MongoDB.
    empty = db.feed.find(cursor_type=CursorType.TAILABLE_AWAIT)
    assert list(empty) == [] and not empty.alive
    db.feed.insert_many([{"n": n} for n in range(2)])
    cursor = db.feed.find({"n": {"$ne": 99}}, cursor_type=CursorType.TAILABLE_AWAIT).max_await_time_ms(2000)
    assert [cursor.next()["n"] for _ in range(2)] == [0, 1]
    threading.Timer(0.3, lambda: db.feed.insert_many([{"n": 99}, {"n": 2}])).start()
    started = time.monotonic()
    assert cursor.next()["n"] == 2  # the getMore waited for the insert
    assert 0.2 < time.monotonic() - started < 1.9
    assert cursor.alive
    # Falling behind the deletions kills the cursor (CappedPositionLost; pymongo stops it).
    db.feed.insert_many([{"n": n} for n in range(10, 20)])
    assert [d["n"] for d in cursor] == []
    assert not cursor.alive
    with pytest.raises(OperationFailure) as e:
        db.command("find", "plain", tailable=True) if db.plain.insert_one({}) else None
    assert e.value.code == 2
    with pytest.raises(OperationFailure) as e:
        db.command("find", "feed", awaitData=True)
    assert e.value.code == 9


def test_convert_and_clone_as_capped(db):
    db.events.insert_many([{"_id": i, "n": i} for i in range(100)])
    db.events.create_index("n")
    db.command("cloneCollectionAsCapped", "events", toCollection="recent", size=1000)
    recent = [d["n"] for d in db.recent.find()]
    assert recent == list(range(100 - len(recent), 100)) and 0 < len(recent) < 100
    assert db.recent.options() == {"capped": True, "size": 1000}
    with pytest.raises(OperationFailure) as e:
        db.command("cloneCollectionAsCapped", "events", toCollection="recent", size=1000)
    assert e.value.code == 48
    db.command("convertToCapped", "events", size=1000)
    assert [d["n"] for d in db.events.find()] == recent
    assert [i["name"] for i in db.events.list_indexes()] == ["_id_"]
    assert db.command("collStats", "events")["capped"] is True
    for command, code in [({"convertToCapped": "missing", "size": 100}, 26), ({"convertToCapped": "events"}, 40414)]:
        with pytest.raises(OperationFailure) as e:
            db.command(command)
        assert e.value.code == code
