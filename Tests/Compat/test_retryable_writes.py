"""Retryable writes through pymongo: a write whose reply is lost is retried by the driver and
applied exactly once (issue 20); the session fields are checked as MongoDB checks them."""
import os
import signal
import time

import pymongo
import pytest
from bson.int64 import Int64
from pymongo.errors import OperationFailure

from conftest import running_server


def test_a_retried_command_answers_with_its_first_result(db):
    db.c.insert_one({"_id": 1, "n": 0})
    with db.client.start_session() as s:
        update = {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}},
                                             {"q": {"_id": 2}, "u": {"$set": {"n": 5}}, "upsert": True}],
                  "txnNumber": Int64(7)}
        first = db.command(dict(update), session=s)
        again = db.command(dict(update), session=s)
        for key in ("n", "nModified", "upserted"):
            assert again[key] == first[key]
        assert again["n"] == 2 and again["nModified"] == 1
        assert db.c.find_one({"_id": 1}) == {"_id": 1, "n": 1}
        famd = {"findAndModify": "c", "query": {"_id": 1}, "update": {"$inc": {"n": 1}}, "new": True, "txnNumber": Int64(8)}
        assert db.command(dict(famd), session=s)["value"] == {"_id": 1, "n": 2}
        assert db.command(dict(famd), session=s)["value"] == {"_id": 1, "n": 2}
        with pytest.raises(OperationFailure) as older:
            db.command({"insert": "c", "documents": [{"_id": 3}], "txnNumber": Int64(6)}, session=s)
        assert older.value.code == 225 and older.value.details["codeName"] == "TransactionTooOld"
        with pytest.raises(OperationFailure) as not_a_write:
            db.command({"find": "c", "txnNumber": Int64(9)}, session=s)
        assert not_a_write.value.code == 50768
        with pytest.raises(OperationFailure) as wrong_type:
            db.command({"insert": "c", "documents": [{"_id": 3}], "txnNumber": 9}, session=s)
        assert wrong_type.value.code == 14
    assert db.c.count_documents({}) == 2
    transactions = db.client.admin.command("serverStatus")["transactions"]
    assert transactions["retriedCommandsCount"] >= 2 and transactions["retriedStatementsCount"] >= 3


@pytest.fixture()
def test_client(test_commands_server):
    c = pymongo.MongoClient(f"mongodb://127.0.0.1:{test_commands_server['port']}/?directConnection=true",
                            serverSelectionTimeoutMS=5000)
    yield c
    c.admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": "off"})
    c.close()


def test_a_lost_reply_is_retried_by_the_driver_and_applied_once(test_client):
    """The server applies the write and closes the connection before replying, as when a
    network fails: pymongo retries, and the increment and the inserts happen once."""
    coll = test_client.retry_compat.c
    coll.drop()
    coll.insert_one({"_id": 1, "n": 0})
    test_client.admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 1}})
    result = coll.update_one({"_id": 1}, {"$inc": {"n": 1}})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert coll.find_one({"_id": 1}) == {"_id": 1, "n": 1}

    test_client.admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 1}})
    inserted = coll.insert_many([{"_id": i} for i in range(2, 1002)])
    assert len(inserted.inserted_ids) == 1000
    assert coll.count_documents({}) == 1001

    test_client.admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 1}})
    before = coll.find_one_and_update({"_id": 1}, {"$inc": {"n": 10}})
    assert before == {"_id": 1, "n": 1}
    assert coll.find_one({"_id": 1}) == {"_id": 1, "n": 11}
    assert test_client.admin.command("serverStatus")["transactions"]["retriedCommandsCount"] >= 3


def test_a_write_that_fails_before_its_commit_is_applied_by_the_retry(test_client):
    coll = test_client.retry_compat.d
    coll.drop()
    coll.insert_one({"_id": 1, "n": 0})
    test_client.admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 1},
                               "data": {"failBeforeCommitExceptionCode": 1}})
    assert coll.update_one({"_id": 1}, {"$inc": {"n": 1}}).modified_count == 1
    assert coll.find_one({"_id": 1}) == {"_id": 1, "n": 1}
    # Every attempt fails: the driver gives up and nothing is applied.
    test_client.admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": "alwaysOn",
                               "data": {"failBeforeCommitExceptionCode": 1}})
    with pytest.raises(pymongo.errors.PyMongoError):
        coll.update_one({"_id": 1}, {"$inc": {"n": 1}})
    test_client.admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": "off"})
    assert coll.find_one({"_id": 1}) == {"_id": 1, "n": 1}


def test_a_retry_after_kill_9_answers_with_its_first_result(folio_binary):
    """What a retryable write did is in the change log entry of its commit (the history's own
    store catches up once a second): after kill -9 the next start reads it back, so the
    retry of an acknowledged write answers as the first time and applies nothing again."""
    with running_server(folio_binary) as first:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{first['port']}/?directConnection=true",
                                     serverSelectionTimeoutMS=10000, heartbeatFrequencyMS=500)
        db = client.app
        db.c.insert_one({"_id": 1, "n": 0})
        with client.start_session() as s:
            # Numbers above those the driver's own retryable writes on this (pooled) session took.
            update = {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}}], "txnNumber": Int64(101)}
            famd = {"findAndModify": "c", "query": {"_id": 1}, "update": {"$inc": {"n": 10}}, "new": True,
                    "txnNumber": Int64(102)}
            insert = {"insert": "c", "documents": [{"_id": 2}, {"_id": 3}], "txnNumber": Int64(103)}
            assert db.command(dict(update), session=s)["nModified"] == 1
            assert db.command(dict(famd), session=s)["value"] == {"_id": 1, "n": 11}
            assert db.command(dict(insert), session=s)["n"] == 2
            os.kill(first["process"].pid, signal.SIGKILL)
            first["process"].wait()
            with running_server(folio_binary, data=first["data"], port=first["port"]):
                deadline = time.time() + 30
                while True:
                    try:
                        again = db.command(dict(insert), session=s)
                        break
                    except pymongo.errors.AutoReconnect:
                        assert time.time() < deadline
                        time.sleep(0.1)
                assert again["n"] == 2 and "writeErrors" not in again
                with pytest.raises(OperationFailure) as older:
                    db.command(dict(famd), session=s)
                assert older.value.code == 225
                famd["txnNumber"] = Int64(104)
                assert db.command(dict(famd), session=s)["value"] == {"_id": 1, "n": 21}
                assert db.command(dict(famd), session=s)["value"] == {"_id": 1, "n": 21}
                assert list(db.c.find().sort("_id", 1)) == [{"_id": 1, "n": 21}, {"_id": 2}, {"_id": 3}]
        client.close()
