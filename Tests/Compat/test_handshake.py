"""What drivers see when they connect: hello's fields and types, both topologies."""
import datetime

import bson
import pytest
import pymongo


def test_hello_is_a_replica_set_primary_with_strict_types(client):
    hello = client.admin.command("hello")
    assert hello["isWritablePrimary"] is True
    assert hello["setName"] == "rs0"
    assert hello["maxWireVersion"] == 25 and hello["minWireVersion"] == 0
    for field in ("maxBsonObjectSize", "maxMessageSizeBytes", "maxWriteBatchSize", "maxWireVersion", "minWireVersion", "connectionId"):
        assert type(hello[field]) is int and hello[field] < 2**31
    assert hello["maxBsonObjectSize"] == 16 * 1024 * 1024
    assert hello["maxMessageSizeBytes"] == 48_000_000
    assert hello["logicalSessionTimeoutMinutes"] == 30
    assert isinstance(hello["localTime"], datetime.datetime)
    assert isinstance(hello["electionId"], bson.ObjectId)
    assert isinstance(hello["topologyVersion"]["processId"], bson.ObjectId)
    assert isinstance(hello["topologyVersion"]["counter"], bson.int64.Int64)
    assert hello["hosts"] == [hello["me"]] == [hello["primary"]]
    assert "operationTime" in hello and "$clusterTime" in hello


def test_legacy_is_master_uses_ismaster_field(client):
    reply = client.admin.command("isMaster")
    assert reply["ismaster"] is True and "isWritablePrimary" not in reply


def test_replica_set_discovery_without_direct_connection(server):
    c = pymongo.MongoClient(f"mongodb://127.0.0.1:{server['port']}/?replicaSet=rs0", serverSelectionTimeoutMS=5000)
    try:
        c.compat_rs.t.insert_one({"_id": 1})
        assert c.compat_rs.t.find_one({"_id": 1}) == {"_id": 1}
        assert c.topology_description.topology_type_name == "ReplicaSetWithPrimary"
        c.drop_database("compat_rs")
    finally:
        c.close()


def test_admin_commands(client):
    build = client.admin.command("buildInfo")
    assert build["version"].startswith("8.0") and build["versionArray"][0] == 8
    assert client.admin.command("ping")["ok"] == 1.0
    assert client.admin.command("getParameter", 1, featureCompatibilityVersion=1)["featureCompatibilityVersion"]["version"] == "8.0"
    assert "parsed" in client.admin.command("getCmdLineOpts")
    assert ":" in client.admin.command("whatsmyuri")["you"]
    assert "authInfo" in client.admin.command("connectionStatus")
    client.admin.command("endSessions", [])


def test_diagnostic_commands(client):
    import bson
    db = client.compat_diag
    db.c.insert_many([{"_id": i} for i in range(3)])
    assert client.admin.command("hostInfo")["system"]["numCores"] >= 1
    assert "startupWarnings" in client.admin.command("getLog", "*")["names"]
    assert db.command("dbStats")["collections"] == 1
    stats = db.command("collStats", "c")
    assert stats["count"] == 3
    # dataSize is the documents' BSON bytes ({_id: int32} is 14 bytes), as in MongoDB.
    assert stats["size"] == 3 * len(bson.encode({"_id": 0})) and stats["avgObjSize"] == 14
    assert db.command("dbStats")["dataSize"] == 42.0 and stats["storageSize"] > 0
    v = db.command("validate", "c")
    assert v["valid"] is True and v["nrecords"] == 3
    # As in MongoDB, the only operation in progress is the currentOp command itself.
    inprog = client.admin.command("currentOp")["inprog"]
    assert [op["command"].get("currentOp") for op in inprog] == [1], inprog
    # With $all, idle connections too: a second client's, with its appName.
    other = pymongo.MongoClient(host=client.address[0], port=client.address[1], directConnection=True, appName="idle-app")
    other.admin.command("ping")
    idle = [op for op in client.admin.command("currentOp", **{"$all": True})["inprog"] if not op["active"]]
    assert any(op.get("appName") == "idle-app" for op in idle), idle
    other.close()
    assert "id" in client.admin.command("startSession")
    client.drop_database("compat_diag")


def test_server_status_counts_what_monitoring_reads(client):
    """The serverStatus fields mongostat and the Prometheus exporter read, with MongoDB's types."""
    import bson
    before = client.admin.command("serverStatus")
    client.compat_status.c.insert_many([{"_id": i} for i in range(5)])
    assert len(list(client.compat_status.c.find({}, batch_size=2))) == 5
    after = client.admin.command("serverStatus")
    for section, fields in {"opcounters": ["insert", "query", "update", "delete", "getmore", "command"],
                            "network": ["bytesIn", "bytesOut", "numRequests"]}.items():
        for f in fields:
            assert isinstance(after[section][f], bson.int64.Int64), (section, f, type(after[section][f]))
    assert after["opcounters"]["insert"] - before["opcounters"]["insert"] == 5
    assert after["opcounters"]["query"] - before["opcounters"]["query"] == 1
    assert after["opcounters"]["getmore"] - before["opcounters"]["getmore"] == 2
    assert after["network"]["numRequests"] > before["network"]["numRequests"]
    assert after["network"]["bytesIn"] > before["network"]["bytesIn"] and after["network"]["bytesOut"] > before["network"]["bytesOut"]
    assert after["metrics"]["document"]["inserted"] - before["metrics"]["document"]["inserted"] == 5
    assert after["metrics"]["commands"]["find"]["total"] - before["metrics"]["commands"]["find"]["total"] == 1
    connections = after["connections"]
    assert type(connections["current"]) is int and connections["current"] >= 1
    assert connections["totalCreated"] >= connections["current"] and connections["available"] > 0
    assert after["mem"]["resident"] > 0 and after["mem"]["bits"] == 64
    assert isinstance(after["pid"], bson.int64.Int64) and after["process"] == "mongod"
    # mongostat's qrw/arw columns and the exporter's query executor series.
    lock = after["globalLock"]
    assert isinstance(lock["totalTime"], bson.int64.Int64)
    for part in ("currentQueue", "activeClients"):
        assert set(lock[part]) == {"total", "readers", "writers"} and all(type(v) is int for v in lock[part].values())
    executor = after["metrics"]["queryExecutor"]
    assert executor["scannedObjects"] - before["metrics"]["queryExecutor"]["scannedObjects"] == 5
    assert executor["collectionScans"]["total"] - before["metrics"]["queryExecutor"]["collectionScans"]["total"] == 1
    assert isinstance(after["metrics"]["operation"]["scanAndOrder"], bson.int64.Int64)
    assert "metrics" not in client.admin.command("serverStatus", metrics=0)
    client.drop_database("compat_status")


def test_commands_not_built_yet_refuse_precisely(client):
    import pymongo
    for command in ({"explain": {"mapReduce": "c"}}, {"mapReduce": "c"}):
        try:
            client.compat_refuse.command(command)
            raise AssertionError("accepted")
        except pymongo.errors.OperationFailure as e:
            assert e.code == 115 and e.details["codeName"] == "CommandNotSupported", e.details


def test_zlib_compression_is_negotiated_and_used(server):
    import pymongo
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{server['port']}/?directConnection=true&compressors=zlib",
                                 serverSelectionTimeoutMS=5000)
    hello = client.admin.command({"hello": 1, "compression": ["snappy", "zlib"]})
    assert hello["compression"] == ["zlib"]
    coll = client.compat_zlib.c
    coll.drop()
    coll.insert_many([{"_id": i, "text": "folio " * 200} for i in range(50)])
    assert [d["_id"] for d in coll.find({}, batch_size=7).sort("_id", -1)] == list(range(49, -1, -1))
    assert coll.count_documents({}) == 50
    client.drop_database("compat_zlib")
    client.close()


def test_client_metadata_only_in_the_first_hello(client):
    # The driver's handshake gave metadata on every pooled connection; a later hello that
    # gives it again is refused as MongoDB refuses it, and a hello without it still answers.
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        client.admin.command("hello", client={"application": {"name": "late"}})
    assert e.value.code == 186
    assert e.value.details["codeName"] == "ClientMetadataCannotBeMutated"
    assert e.value.details["errmsg"] == "The client metadata document may only be sent in the first hello"
    assert client.admin.command("hello")["isWritablePrimary"] is True
