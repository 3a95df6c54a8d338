"""Change streams, the oplog and their options through pymongo: each event type with
MongoDB's fields and types, resume tokens (also across kill -9), transactions appearing at
their commit, pre- and post-images, `local.oplog.rs` tailing, and the errors of bad input."""
import os
import signal
import threading
import time

import bson
import pymongo
import pytest
from bson import Timestamp
from pymongo.cursor import CursorType

from conftest import running_server


def next_event(stream, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        event = stream.try_next()
        if event is not None:
            return event
    raise AssertionError("no change event arrived")


def test_each_event_type_has_mongodb_fields_and_types(db):
    coll = db.messages
    coll.insert_one({"_id": 0})
    with coll.watch(full_document="updateLookup", max_await_time_ms=100) as stream:
        coll.insert_one({"_id": 1, "text": "hi", "tags": ["a", "b", "c"]})
        coll.update_one({"_id": 1}, {"$set": {"text": "hello", "meta.read": True}, "$pop": {"tags": 1}})
        coll.replace_one({"_id": 1}, {"text": "replaced"})
        coll.delete_one({"_id": 1})
        insert, update, replace, delete = (next_event(stream) for _ in range(4))
    assert list(insert) == ["_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns", "documentKey"]
    assert insert["operationType"] == "insert" and insert["fullDocument"] == {"_id": 1, "text": "hi", "tags": ["a", "b", "c"]}
    assert insert["ns"] == {"db": db.name, "coll": "messages"} and insert["documentKey"] == {"_id": 1}
    assert isinstance(insert["clusterTime"], Timestamp) and insert["wallTime"].year >= 2024
    assert set(insert["_id"]) == {"_data"} and isinstance(insert["_id"]["_data"], str)
    assert update["operationType"] == "update"
    assert update["updateDescription"] == {"updatedFields": {"text": "hello", "meta": {"read": True}}, "removedFields": [],
                                           "truncatedArrays": [{"field": "tags", "newSize": 2}]}
    # updateLookup reads the document when the event is read: it was deleted by then.
    assert update["fullDocument"] is None
    assert replace["operationType"] == "replace" and replace["fullDocument"] == {"_id": 1, "text": "replaced"}
    assert delete["operationType"] == "delete" and "fullDocument" not in delete
    tokens = [e["_id"]["_data"] for e in (insert, update, replace, delete)]
    assert tokens == sorted(tokens) and len(set(tokens)) == 4


def test_drop_rename_drop_database_and_invalidate(client, db):
    db.a.insert_one({"_id": 1})
    with db.a.watch() as coll_stream, db.watch() as db_stream, client.watch() as cluster_stream:
        db.a.rename("b")
        db.b.drop()
        db.c.insert_one({"_id": 1})
        client.drop_database(db.name)
        rename, invalidate = next_event(coll_stream), next_event(coll_stream)
        assert rename["operationType"] == "rename" and rename["to"] == {"db": db.name, "coll": "b"}
        assert invalidate["operationType"] == "invalidate" and not coll_stream.alive
        seen = [next_event(db_stream)["operationType"] for _ in range(6)]
        assert seen == ["rename", "drop", "insert", "drop", "dropDatabase", "invalidate"]
        assert not db_stream.alive
        cluster = []
        while len(cluster) < 5:
            e = next_event(cluster_stream)
            if e.get("ns", {}).get("db") == db.name:
                cluster.append(e["operationType"])
        assert cluster == ["rename", "drop", "insert", "drop", "dropDatabase"] and cluster_stream.alive


def test_resume_after_start_after_and_start_at_operation_time(db):
    coll = db.c
    with coll.watch() as stream:
        first = coll.insert_one({"n": 1}).inserted_id
        coll.insert_one({"n": 2})
        e1 = next_event(stream)
        assert e1["fullDocument"]["_id"] == first
        token, time1 = e1["_id"], e1["clusterTime"]
    with coll.watch(resume_after=token) as resumed:
        assert next_event(resumed)["fullDocument"]["n"] == 2
    with coll.watch(start_at_operation_time=time1) as at:
        assert [next_event(at)["fullDocument"]["n"] for _ in range(2)] == [1, 2]
    with coll.watch() as stream:
        coll.drop()
        next_event(stream)
        invalidate = next_event(stream)
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        coll.watch(resume_after=invalidate["_id"])
    assert e.value.code == 260
    with coll.watch(start_after=invalidate["_id"]) as after:
        coll.insert_one({"n": 3})
        assert next_event(after)["fullDocument"]["n"] == 3


def test_every_batch_carries_a_post_batch_resume_token(db):
    reply = db.command({"aggregate": "p", "pipeline": [{"$changeStream": {}}], "cursor": {}})
    first = reply["cursor"]["postBatchResumeToken"]
    assert reply["cursor"]["firstBatch"] == [] and reply["cursor"]["id"] != 0
    db.p.insert_one({"x": 1})
    more = db.command({"getMore": reply["cursor"]["id"], "collection": "p", "maxTimeMS": 1000})
    batch = more["cursor"]["nextBatch"]
    assert len(batch) == 1 and more["cursor"]["postBatchResumeToken"]["_data"] >= batch[0]["_id"]["_data"] > first["_data"]
    db.command({"killCursors": "p", "cursors": [reply["cursor"]["id"]]})


def test_a_transaction_appears_whole_at_its_commit(client, db):
    db.t.insert_one({"_id": 0})
    with db.t.watch(max_await_time_ms=50) as stream, client.start_session() as session:
        lsid = session.session_id
        with session.start_transaction():
            db.t.insert_one({"_id": 1}, session=session)
            db.t.update_one({"_id": 0}, {"$set": {"x": 1}}, session=session)
            assert stream.try_next() is None
        events = [next_event(stream), next_event(stream)]
    assert [e["operationType"] for e in events] == ["insert", "update"]
    assert events[0]["clusterTime"] == events[1]["clusterTime"]
    assert all(e["lsid"]["id"] == lsid["id"] and e["txnNumber"] == 1 for e in events)


def test_pre_and_post_images(db):
    db.create_collection("img", changeStreamPreAndPostImages={"enabled": True})
    db.img.insert_one({"_id": 1, "v": 1})
    with db.img.watch(full_document="required", full_document_before_change="required") as stream:
        db.img.update_one({"_id": 1}, {"$inc": {"v": 1}})
        db.img.delete_one({"_id": 1})
        update, delete = next_event(stream), next_event(stream)
    assert update["fullDocument"] == {"_id": 1, "v": 2} and update["fullDocumentBeforeChange"] == {"_id": 1, "v": 1}
    assert delete["fullDocumentBeforeChange"] == {"_id": 1, "v": 2}
    info = db.command("listCollections", filter={"name": "img"})["cursor"]["firstBatch"][0]
    assert info["options"]["changeStreamPreAndPostImages"] == {"enabled": True}
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        db.create_collection("capped_img", capped=True, size=4096, changeStreamPreAndPostImages={"enabled": True})
    assert e.value.code == 72


def test_stages_after_change_stream(db):
    with db.s.watch([{"$match": {"operationType": "insert", "fullDocument.keep": True}},
                     {"$project": {"fullDocument.keep": 1, "operationType": 1}}]) as stream:
        db.s.insert_many([{"keep": False}, {"keep": True}])
        event = next_event(stream)
    assert set(event) == {"_id", "fullDocument", "operationType"} and event["fullDocument"] == {"keep": True}
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        db.s.watch([{"$group": {"_id": 1}}])
    assert e.value.code == 20
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        list(db.s.aggregate([{"$match": {}}, {"$changeStream": {}}]))
    assert e.value.code == 40602


def test_hostile_tokens_and_options(db):
    for token, code in (({"_data": "zz"}, 9), ({"_data": "82" * 18}, 9), ({"_data": 1}, 9), ({}, 9)):
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            db.h.watch(resume_after=token)
        assert e.value.code == code, token
    # A well-formed token from the future, and a start the log no longer has.
    future = "82" + format(0xFFFFFFF000000000, "016X") + "00000000" + "00000000" + "01"
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        db.h.watch(resume_after={"_data": future})
    assert e.value.code == 260
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        db.h.watch(start_at_operation_time=Timestamp(1, 1))
    assert e.value.code == 286 and "NonResumableChangeStreamError" in e.value._error_labels
    for options, code in (({"fullDocument": "sometimes"}, 2), ({"bogus": 1}, 40415), ({"allChangesForCluster": True}, 73)):
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            db.command({"aggregate": "h", "pipeline": [{"$changeStream": options}], "cursor": {}})
        assert e.value.code == code, options


def test_many_idle_streams_and_a_dropped_database(client, db):
    streams = [db.idle.watch() for _ in range(500)]
    client.drop_database(db.name)
    # A database stream on a database that no longer exists opens and waits.
    with db.watch(max_await_time_ms=50) as stream:
        assert stream.try_next() is None
        db.idle.insert_one({"x": 1})
        assert next_event(stream)["operationType"] == "insert"
    for s in streams:
        s.close()
    assert client.admin.command("ping")["ok"] == 1


def test_oplog_reads_and_tailing(client, db):
    oplog = client.local.oplog.rs
    db.o.insert_one({"_id": 1})
    last = oplog.find().sort("$natural", -1).limit(1).next()
    assert last["op"] == "i" and last["ns"] == f"{db.name}.o" and last["o"] == {"_id": 1} and last["o2"] == {"_id": 1}
    assert isinstance(last["ts"], Timestamp) and isinstance(last["t"], int) and last["v"] == 2 and isinstance(last["ui"], bson.Binary)
    tail = oplog.find({"ts": {"$gt": last["ts"]}}, cursor_type=CursorType.TAILABLE_AWAIT).max_await_time_ms(200)
    db.o.update_one({"_id": 1}, {"$set": {"a": 1}})
    db.o.delete_one({"_id": 1})
    seen = []
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        for entry in tail:
            seen.append(entry)
    assert [(e["op"], e["o"]) for e in seen] == [("u", {"$v": 2, "diff": {"i": {"a": 1}}}), ("d", {"_id": 1})]
    tail.close()
    status = client.admin.command("replSetGetStatus")
    newest = oplog.find().sort("$natural", -1).limit(1).next()["ts"]
    assert status["myState"] == 1 and status["members"][0]["stateStr"] == "PRIMARY"
    assert status["optimes"]["appliedOpTime"]["ts"] >= newest and status["members"][0]["optime"]["ts"] >= newest
    assert client.admin.command("replSetResizeOplog", 1, size=2048.0)["ok"] == 1
    with pytest.raises(pymongo.errors.OperationFailure):
        client.admin.command("replSetResizeOplog", 1, size=10)


def test_a_token_taken_before_kill_9_resumes_after_restart(folio_binary):
    """Writers keep inserting while the server is killed; a stream resumed from a token taken
    before the kill sees every acknowledged insert after the token exactly once."""
    with running_server(folio_binary) as first:
        url = f"mongodb://127.0.0.1:{first['port']}/?directConnection=true"
        client = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
        coll = client.app.messages
        with coll.watch() as stream:
            coll.insert_one({"_id": -1})
            token = next_event(stream)["_id"]
        acknowledged = []

        def write():
            writer = pymongo.MongoClient(url, serverSelectionTimeoutMS=2000, retryWrites=False)
            i = 0
            try:
                while True:
                    writer.app.messages.insert_one({"_id": i})
                    acknowledged.append(i)
                    i += 1
            except pymongo.errors.PyMongoError:
                pass

        t = threading.Thread(target=write)
        t.start()
        time.sleep(1.0)
        os.kill(first["process"].pid, signal.SIGKILL)
        first["process"].wait()
        t.join()
        client.close()
    assert len(acknowledged) > 10
    with running_server(folio_binary, data=first["data"], port=first["port"]):
        client = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
        seen = []
        with client.app.messages.watch(resume_after=token, max_await_time_ms=200) as stream:
            while True:
                e = stream.try_next()
                if e is None:
                    break
                seen.append(e["documentKey"]["_id"])
        # Every acknowledged insert, once, in order; one more may have committed unacknowledged.
        assert seen[:len(acknowledged)] == acknowledged and len(seen) - len(acknowledged) <= 1
        assert len(set(seen)) == len(seen)
        client.close()


def test_bulk_loads_stream_and_tail_whole(client, db):
    """Each insert_many is one change-log row: streams and oplog readers behind bulk loads get
    every entry once, in order, a few megabytes of rows at a time."""
    coll = db.bulk
    with coll.watch(max_await_time_ms=100) as stream:
        start = stream.resume_token
        for b in range(3):
            coll.insert_many([{"_id": b * 6000 + i, "pad": "x" * 1000} for i in range(6000)])
        seen = []
        while len(seen) < 18000:
            seen.append(next_event(stream)["documentKey"]["_id"])
    assert seen == list(range(18000))
    with coll.watch(resume_after=start, max_await_time_ms=100) as resumed:
        assert next_event(resumed)["documentKey"] == {"_id": 0}
    first = client.local.oplog.rs.find_one({"ns": f"{db.name}.bulk", "op": "i"})
    tail = client.local.oplog.rs.find({"ts": {"$gte": first["ts"]}, "ns": f"{db.name}.bulk"})
    assert [e["o"]["_id"] for e in tail] == list(range(18000))
    last = client.local.oplog.rs.find().sort("$natural", -1).limit(1).next()
    assert last["ns"] == f"{db.name}.bulk" and last["o"]["_id"] == 17999
