"""Multi-document transactions through pymongo (issue 20): atomic commit, rollback on abort,
snapshot isolation between sessions, WriteConflict with its label, MongoDB's errors for
commands and states a transaction refuses, and the bank test."""
import random
import threading
import time

import pymongo
import pytest
from bson.int64 import Int64
from bson.timestamp import Timestamp
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern


def test_abort_leaves_nothing_and_commit_shows_everything_at_once(db):
    db.c.insert_many([{"_id": 1, "n": 0}, {"_id": 2, "n": 0}])
    with db.client.start_session() as s:
        s.start_transaction()
        db.c.update_one({"_id": 1}, {"$inc": {"n": 5}}, session=s)
        db.c.insert_one({"_id": 3, "n": 1}, session=s)
        # The transaction sees its own writes; nobody else does.
        assert db.c.find_one({"_id": 1}, session=s)["n"] == 5
        assert db.c.count_documents({}, session=s) == 3
        assert db.c.find_one({"_id": 1})["n"] == 0
        assert db.c.count_documents({}) == 2
        s.abort_transaction()
    assert list(db.c.find().sort("_id", 1)) == [{"_id": 1, "n": 0}, {"_id": 2, "n": 0}]

    with db.client.start_session() as s:
        s.start_transaction()
        db.c.update_one({"_id": 1}, {"$inc": {"n": 5}}, session=s)
        db.c.delete_one({"_id": 2}, session=s)
        db.c.insert_one({"_id": 3, "n": 1}, session=s)
        assert db.c.find_one({"_id": 2}) is not None
        s.commit_transaction()
    assert list(db.c.find().sort("_id", 1)) == [{"_id": 1, "n": 5}, {"_id": 3, "n": 1}]
    assert db.c.estimated_document_count() == 2


def test_a_transaction_reads_one_snapshot(db):
    db.c.insert_many([{"_id": i, "n": i} for i in range(10)])
    db.c.create_index("n")
    with db.client.start_session() as s:
        s.start_transaction()
        assert db.c.find_one({"_id": 0}, session=s) == {"_id": 0, "n": 0}
        # Writes outside after the snapshot are not seen, by _id, index scans, sorts or aggregation.
        db.c.insert_one({"_id": 100, "n": 100})
        db.c.update_one({"_id": 5}, {"$set": {"n": 500}})
        assert db.c.count_documents({}, session=s) == 10
        assert db.c.find_one({"n": 500}, session=s) is None
        assert [d["n"] for d in db.c.find({"n": {"$gte": 4}}, session=s).sort("n", -1).limit(3)] == [9, 8, 7]
        assert db.c.distinct("n", {"n": {"$gt": 7}}, session=s) == [8, 9]
        total = list(db.c.aggregate([{"$group": {"_id": None, "t": {"$sum": "$n"}}}], session=s))
        assert total[0]["t"] == 45
        s.commit_transaction()
    assert db.c.find_one({"_id": 5})["n"] == 500


def test_write_conflict_carries_its_label_and_aborts(db):
    db.c.insert_one({"_id": 1, "n": 0})
    with db.client.start_session() as s1, db.client.start_session() as s2:
        s1.start_transaction()
        s2.start_transaction()
        db.c.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=s1)
        with pytest.raises(OperationFailure) as conflict:
            db.c.update_one({"_id": 1}, {"$inc": {"n": 10}}, session=s2)
        assert conflict.value.code == 112 and conflict.value.details["codeName"] == "WriteConflict"
        assert conflict.value.has_error_label("TransientTransactionError")
        with pytest.raises(OperationFailure) as gone:
            s2.commit_transaction()
        assert gone.value.code == 251 and gone.value.has_error_label("TransientTransactionError")
        s1.commit_transaction()
    assert db.c.find_one({"_id": 1})["n"] == 1


def test_a_write_outside_waits_for_the_transaction_instead_of_conflicting(db):
    db.c.insert_one({"_id": 1, "n": 0})
    with db.client.start_session() as s:
        s.start_transaction()
        db.c.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=s)
        outside = threading.Thread(target=lambda: db.c.update_one({"_id": 1}, {"$inc": {"n": 10}}))
        outside.start()
        time.sleep(0.3)
        assert outside.is_alive()  # waiting for the transaction
        s.commit_transaction()
        outside.join(10)
    assert db.c.find_one({"_id": 1})["n"] == 11
    # A transaction whose snapshot predates a write outside cannot overwrite it.
    with db.client.start_session() as s:
        s.start_transaction()
        db.c.find_one({"_id": 1}, session=s)
        db.c.update_one({"_id": 1}, {"$set": {"n": 0}})
        with pytest.raises(OperationFailure) as stale:
            db.c.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=s)
        assert stale.value.code == 112
    assert db.c.find_one({"_id": 1})["n"] == 0


def test_unique_index_values_conflict_across_transactions(db):
    db.c.create_index("email", unique=True)
    with db.client.start_session() as s1, db.client.start_session() as s2:
        s1.start_transaction()
        s2.start_transaction()
        db.c.insert_one({"_id": 1, "email": "a@x"}, session=s1)
        with pytest.raises(OperationFailure) as conflict:
            db.c.insert_one({"_id": 2, "email": "a@x"}, session=s2)
        assert conflict.value.code == 112
        s1.commit_transaction()
    assert db.c.count_documents({"email": "a@x"}) == 1


def test_errors_and_states(db):
    db.c.insert_one({"_id": 1})
    with db.client.start_session() as s:
        s.start_transaction()
        with pytest.raises(OperationFailure) as count:
            db.command("count", "c", session=s)
        assert count.value.code == 263 and count.value.details["codeName"] == "OperationNotSupportedInTransaction"
    with db.client.start_session() as s:
        s.start_transaction()
        # A write error is reported as one and aborts the transaction.
        with pytest.raises(pymongo.errors.DuplicateKeyError):
            db.c.insert_one({"_id": 1}, session=s)
        with pytest.raises(OperationFailure) as aborted:
            db.c.insert_one({"_id": 2}, session=s)
        assert aborted.value.code == 251
    assert db.c.find_one({"_id": 2}) is None
    with db.client.start_session() as s:
        s.start_transaction()
        db.c.insert_one({"_id": 3}, session=s)
        s.commit_transaction()
        s.commit_transaction()  # idempotent
    # Raw commands: the same number again after the commit, and an older one.
    with db.client.start_session() as s:
        base = {"lsid": s.session_id, "autocommit": False}
        db.command({"insert": "c", "documents": [{"_id": 10}], **base, "txnNumber": Int64(5), "startTransaction": True})
        with pytest.raises(OperationFailure) as wc:
            db.command({"insert": "c", "documents": [{"_id": 11}], **base, "txnNumber": Int64(5), "writeConcern": {"w": 1}})
        assert wc.value.code == 72
        # The failed command aborted transaction 5.
        with pytest.raises(OperationFailure) as no_such:
            db.client.admin.command({"commitTransaction": 1, **base, "txnNumber": Int64(5)})
        assert no_such.value.code == 251
        db.command({"insert": "c", "documents": [{"_id": 12}], **base, "txnNumber": Int64(6), "startTransaction": True})
        db.client.admin.command({"commitTransaction": 1, **base, "txnNumber": Int64(6)})
        with pytest.raises(OperationFailure) as committed:
            db.command({"insert": "c", "documents": [{"_id": 13}], **base, "txnNumber": Int64(6)})
        assert committed.value.code == 256 and committed.value.details["codeName"] == "TransactionCommitted"
        with pytest.raises(OperationFailure) as old:
            db.command({"insert": "c", "documents": [{"_id": 14}], **base, "txnNumber": Int64(4), "startTransaction": True})
        assert old.value.code == 225
        with pytest.raises(OperationFailure) as outside:
            db.command({"commitTransaction": 1, "lsid": s.session_id})
        assert outside.value.code in (72, 13)
    assert db.c.find_one({"_id": 10}) is None and db.c.find_one({"_id": 12}) == {"_id": 12}


def test_collections_created_in_a_transaction_appear_at_commit(db):
    with db.client.start_session() as s:
        s.start_transaction()
        db.fresh.insert_one({"_id": 1}, session=s)
        assert "fresh" not in db.list_collection_names()
        s.commit_transaction()
    assert db.fresh.find_one() == {"_id": 1}
    with db.client.start_session() as s:
        s.start_transaction()
        db.other.insert_one({"_id": 1}, session=s)
        s.abort_transaction()
    assert "other" not in db.list_collection_names()


def transfer(session, accounts, a, b, amount):
    source = accounts.find_one_and_update({"_id": a, "balance": {"$gte": amount}}, {"$inc": {"balance": -amount}},
                                          session=session)
    if source is None:
        session.abort_transaction()
        return False
    accounts.update_one({"_id": b}, {"$inc": {"balance": amount}}, session=session)
    return True


def test_with_transaction_funds_transfer_commits_and_rolls_back(db):
    db.accounts.insert_many([{"_id": "alice", "balance": 100}, {"_id": "bob", "balance": 0}])
    with db.client.start_session() as s:
        s.with_transaction(lambda session: transfer(session, db.accounts, "alice", "bob", 60))
        s.with_transaction(lambda session: transfer(session, db.accounts, "alice", "bob", 60))  # refused by the guard
    assert {d["_id"]: d["balance"] for d in db.accounts.find()} == {"alice": 40, "bob": 60}


def test_bank(db):
    """8 clients move random amounts between 100 accounts in withTransaction while 2 read
    totals in snapshot transactions: every total is exact, nothing lost or applied twice."""
    accounts = 100
    db.bank.insert_many([{"_id": i, "balance": 1000} for i in range(accounts)])
    expected = accounts * 1000
    stop = time.monotonic() + 20
    counts = {"commits": 0, "conflicts": 0, "reads": 0, "refused": 0}
    lock = threading.Lock()
    failures = []
    client = db.client

    def mover(seed):
        rng = random.Random(seed)
        coll = client[db.name].bank
        with client.start_session() as s:
            while time.monotonic() < stop:
                a, b = rng.sample(range(accounts), 2)
                amount = rng.randint(1, 50)
                attempts = [0]

                def callback(session):
                    attempts[0] += 1
                    return transfer(session, coll, a, b, amount)
                try:
                    moved = s.with_transaction(callback)
                except PyMongoError as e:
                    failures.append(repr(e))
                    return
                with lock:
                    counts["commits" if moved else "refused"] += 1
                    counts["conflicts"] += attempts[0] - 1

    def reader():
        coll = client[db.name].bank
        with client.start_session() as s:
            while time.monotonic() < stop:
                with s.start_transaction(read_concern=ReadConcern("snapshot")):
                    total = sum(d["balance"] for d in coll.find({}, session=s))
                if total != expected:
                    failures.append(f"read total {total}")
                with lock:
                    counts["reads"] += 1

    threads = [threading.Thread(target=mover, args=(i,)) for i in range(8)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = sum(d["balance"] for d in db.bank.find())
    print(f"bank: {counts['commits']} transfers committed, {counts['refused']} refused by the guard, "
          f"{counts['conflicts']} conflicts retried, {counts['reads']} snapshot totals read")
    assert failures == []
    assert final == expected
    assert counts["commits"] > 0 and counts["reads"] > 0
    status = client.admin.command("serverStatus")["transactions"]
    assert status["totalCommitted"] >= counts["commits"]


def test_snapshot_sessions_read_one_point_in_time(db):
    """A snapshot session (readConcern snapshot outside transactions) reads the time of its
    first read in every later read, through find with getMore, aggregate and distinct, while
    other clients write; the server reports that time as atClusterTime."""
    db.c.insert_many([{"_id": i, "k": i % 3} for i in range(10)])
    with db.client.start_session(snapshot=True) as s:
        cursor = db.c.find({}, session=s, batch_size=3).sort("_id", 1)
        first = [next(cursor)["_id"] for _ in range(3)]
        db.c.delete_many({"_id": {"$gte": 5}})
        db.c.insert_one({"_id": 100, "k": 7})
        # The open cursor and every later read in the session see the first read's state.
        assert first + [d["_id"] for d in cursor] == list(range(10))
        assert db.c.count_documents({}, session=s) == 10
        assert sorted(db.c.distinct("k", session=s)) == [0, 1, 2]
        assert [d["_id"] for d in db.c.aggregate([{"$match": {"k": 0}}], session=s)] == [0, 3, 6, 9]
        time_read = s._snapshot_time
        assert time_read is not None
    assert db.c.count_documents({}) == 6
    assert sorted(db.c.distinct("k")) == [0, 1, 2, 7]
    # The time itself, named by another client's read, while the server keeps it.
    reply = db.command("find", "c", readConcern={"level": "snapshot", "atClusterTime": time_read})
    assert reply["cursor"]["atClusterTime"] == time_read
    assert len(reply["cursor"]["firstBatch"]) == 10
    # Writes and other commands refuse snapshot reads outside transactions, as MongoDB does.
    with db.client.start_session(snapshot=True) as s:
        with pytest.raises(OperationFailure) as e:
            db.c.insert_one({"_id": 200}, session=s)
        assert e.value.code == 72
        with pytest.raises(OperationFailure) as e:
            db.list_collection_names(session=s)
        assert e.value.code == 72
    with pytest.raises(OperationFailure) as e:
        db.command("find", "c", readConcern={"level": "snapshot", "atClusterTime": Timestamp(1, 1)})
    assert e.value.code == 239 and e.value.details["codeName"] == "SnapshotTooOld"
