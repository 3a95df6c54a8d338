"""Per-database quotas (`setDatabaseQuota`) and the audit log through pymongo."""

import json
import os

import pymongo
import pytest
from pymongo.errors import BulkWriteError, OperationFailure

from conftest import running_server, scratch_directory


def test_a_storage_quota_stops_writes_but_keeps_data_and_reads(server):
    c = pymongo.MongoClient(port=server["port"])
    db = c.quota_storage
    db.drop_collection("docs")
    acknowledged = 0
    db.docs.insert_many([{"i": i, "pad": "x" * 1000} for i in range(50)])
    acknowledged += 50
    reply = c.admin.command("setDatabaseQuota", "quota_storage", maxStorageBytes=100_000)
    assert reply["quota"] == {"maxStorageBytes": 100_000}
    with pytest.raises((OperationFailure, BulkWriteError)) as e:
        for i in range(200):
            db.docs.insert_one({"i": 1000 + i, "pad": "x" * 1000})
            acknowledged += 1
    code = e.value.code if isinstance(e.value, OperationFailure) else e.value.details["writeErrors"][0]["code"]
    assert code == 8000
    assert "you are over your space quota" in str(e.value)
    # Everything acknowledged is there, reads and deletes work, the quota shows in dbStats.
    assert db.docs.count_documents({}) == acknowledged
    stats = db.command("dbStats")
    assert stats["quota"]["maxStorageBytes"] == 100_000 and stats["quota"]["usage"]["storageBytes"] >= 100_000
    db.docs.delete_many({"i": {"$gte": 10}})
    c.admin.command("setDatabaseQuota", "quota_storage")
    db.docs.insert_one({"after": True})


def test_a_document_quota(server):
    c = pymongo.MongoClient(port=server["port"])
    db = c.quota_documents
    db.drop_collection("docs")
    c.admin.command("setDatabaseQuota", "quota_documents", maxDocuments=5)
    db.docs.insert_many([{"i": i} for i in range(5)])
    with pytest.raises(OperationFailure) as e:
        db.docs.insert_one({"i": 5})
    assert e.value.code == 8000
    assert db.docs.count_documents({}) == 5
    c.admin.command("setDatabaseQuota", "quota_documents", maxDocuments=0)
    db.docs.insert_one({"i": 5})


def test_the_audit_log_records_security_events(folio_binary):
    path = os.path.join(scratch_directory("folio-audit-"), "audit.json")
    with running_server(folio_binary, "--auth", "--audit-log", path) as s:
        bare = pymongo.MongoClient(port=s["port"])
        bare.admin.command("createUser", "root", pwd="pw", roles=["root"])
        with pytest.raises(OperationFailure):
            pymongo.MongoClient(port=s["port"], username="root", password="wrong").admin.command("ping")
        root = pymongo.MongoClient(port=s["port"], username="root", password="pw")
        root.app.create_collection("events")
        root.app.events.create_index("when")
        root.app.command("createUser", "reader", pwd="pw", roles=["read"])
        reader = pymongo.MongoClient(port=s["port"], username="reader", password="pw", authSource="app")
        with pytest.raises(OperationFailure):
            reader.app.events.insert_one({})
        root.app.events.drop()
    with open(path) as f:
        messages = [json.loads(line) for line in f]
    kinds = [m["atype"] for m in messages]
    for expected in ["createUser", "authenticate", "createCollection", "createIndex", "authCheck", "dropCollection"]:
        assert expected in kinds
    failed = [m for m in messages if m["atype"] == "authenticate" and m["result"] == 18]
    assert failed and failed[0]["param"]["user"] == "root"
    refused = [m for m in messages if m["atype"] == "authCheck"][0]
    assert refused["result"] == 13 and refused["users"] == [{"user": "reader", "db": "app"}]
    assert refused["param"]["command"] == "insert" and refused["param"]["ns"] == "app.events"
    assert set(messages[0]) == {"atype", "ts", "local", "remote", "users", "roles", "param", "result"}
