"""Runs ../shared/spec-tests/ folders (crud-unified, versioned-api, retryable-writes, sessions,
causal-consistency, read-write-concern, transactions, transactions-convenient-api) through
pymongo against the server.

Prints `N passed, N failed, N skipped` with the reason for every skip; every skip names the
issue that owns the missing feature. Passing needs at least 90% of the non-skipped cases.
"""
import collections
import json
import os
import pathlib
import time

import bson
import pymongo
import pytest
from bson import json_util
from pymongo import operations

SPEC_ROOT = pathlib.Path(os.environ.get("FOLIO_SPEC_TESTS", pathlib.Path(__file__).resolve().parents[3] / "shared" / "spec-tests"))

# testRunner operations this runner implements.
RUNNER_OPERATIONS = {"failPoint", "createEntities", "assertSessionTransactionState", "assertSessionPinned", "assertSessionUnpinned",
                     "assertCollectionExists", "assertCollectionNotExists", "assertIndexExists", "assertIndexNotExists"}

SKIP_OPERATIONS = {
    "targetedFailPoint": "fail points pinned to a mongos (sharded clusters, not planned)",
}


def requirements_skip(reqs):
    if not reqs:
        return None
    def version(s):
        parts = [int(p) for p in s.split(".")]
        return parts + [0] * (3 - len(parts))
    for r in reqs:
        if "maxServerVersion" in r and version(r["maxServerVersion"]) < [8, 0, 0]:
            continue
        if "minServerVersion" in r and version(r["minServerVersion"]) > [8, 0, 99]:
            continue
        # Folio presents itself as a one-member replica set: "single" (a standalone) is another topology.
        if "topologies" in r and "replicaset" not in r["topologies"]:
            continue
        if r.get("serverless") == "require" or "csfle" in r or r.get("auth") is True:
            continue
        if r.get("serverParameters", {}).get("enableTestCommands"):
            return "MongoDB's own test commands (testVersion2, acceptApiVersion2), not planned"
        return None
    return "runOnRequirements exclude a MongoDB 8.0 replica set"


def skip_reason(test):
    for op in test["operations"]:
        if op["name"] in SKIP_OPERATIONS:
            return SKIP_OPERATIONS[op["name"]]
        args = op.get("arguments", {})
        if "rawData" in args:
            return "rawData (time-series internals, not planned)"
        if op.get("object") == "testRunner" and op["name"] not in RUNNER_OPERATIONS:
            return f"test-runner operation {op['name']} (not implemented by this runner)"
        if op["name"] == "mapReduce":
            return "mapReduce (deprecated in MongoDB, answers 115)"
    return None


def matches(expected, actual, root=True):
    if isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)).startswith("$$"):
        op, arg = next(iter(expected.items()))
        if op == "$$exists":
            return (actual is not MISSING) == bool(arg)
        if op == "$$unsetOrMatches":
            return actual is MISSING or matches(arg, actual, root)
        if op == "$$type":
            names = arg if isinstance(arg, list) else [arg]
            return any(type_matches(n, actual) for n in names)
        if op == "$$sessionLsid":
            return arg in LSIDS and actual == LSIDS[arg]
        if op == "$$matchesEntity":
            return arg in SAVED and actual == SAVED[arg]
        return False
    if actual is MISSING:
        return False
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        for k, v in expected.items():
            if not matches(v, actual.get(k, MISSING), False):
                return False
        return root or set(actual) <= set(expected)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(matches(e, a, root) for e, a in zip(expected, actual))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        return expected == actual
    return expected == actual


def type_matches(name, value):
    types = {"objectId": bson.ObjectId, "int": int, "long": (int, bson.int64.Int64), "double": float, "string": str,
             "bool": bool, "date": __import__("datetime").datetime, "object": dict, "array": list}
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = types.get(name)
    return expected is not None and (type(value) in expected if isinstance(expected, tuple) else type(value) is expected)


MISSING = object()
# The session entities of the test running now (for $$sessionLsid and `session` arguments).
SESSIONS = {}
# Their lsids (kept: a session ended by the test no longer gives its id).
LSIDS = {}
# Results operations saved as entities (saveResultAsEntity), by name.
SAVED = {}
# How the test running now makes more entities (the createEntities operation).
CREATE = []
# The longest blockTimeMS a fail point of the test running now set: a command it blocked may
# still be running when the client gave up on it, and would use the next test's fail point.
BLOCKED = [0]


def result_document(name, result):
    if getattr(result, "acknowledged", True) is False:
        return {"acknowledged": False}
    if name in ("insertOne",):
        return {"insertedId": result.inserted_id}
    if name == "insertMany":
        return {"insertedIds": {str(i): v for i, v in enumerate(result.inserted_ids)}}
    if name in ("updateOne", "updateMany", "replaceOne"):
        out = {"matchedCount": result.matched_count, "modifiedCount": result.modified_count,
               "upsertedCount": 0 if result.upserted_id is None else 1}
        if result.upserted_id is not None:
            out["upsertedId"] = result.upserted_id
        return out
    if name in ("deleteOne", "deleteMany"):
        return {"deletedCount": result.deleted_count}
    if name == "bulkWrite":
        return {"deletedCount": result.deleted_count, "insertedCount": result.inserted_count, "matchedCount": result.matched_count,
                "modifiedCount": result.modified_count, "upsertedCount": result.upserted_count,
                "upsertedIds": {str(k): v for k, v in result.upserted_ids.items()}, "insertedIds": MISSING}
    return result


def client_bulk_model(m):
    (kind, a), = m.items()
    ns = {"namespace": a["namespace"]}
    if kind == "insertOne":
        return operations.InsertOne(a["document"], **ns)
    if kind in ("updateOne", "updateMany"):
        cls = operations.UpdateOne if kind == "updateOne" else operations.UpdateMany
        extra = {"sort": a["sort"]} if "sort" in a and kind == "updateOne" else {}
        return cls(a["filter"], a["update"], upsert=a.get("upsert"), array_filters=a.get("arrayFilters"), hint=a.get("hint"), collation=a.get("collation"), **ns, **extra)
    if kind == "replaceOne":
        extra = {"sort": a["sort"]} if "sort" in a else {}
        return operations.ReplaceOne(a["filter"], a["replacement"], upsert=a.get("upsert"), hint=a.get("hint"), collation=a.get("collation"), **ns, **extra)
    if kind in ("deleteOne", "deleteMany"):
        cls = operations.DeleteOne if kind == "deleteOne" else operations.DeleteMany
        return cls(a["filter"], hint=a.get("hint"), collation=a.get("collation"), **ns)
    raise NotImplementedError(kind)


def client_bulk_result(result):
    out = {"insertedCount": result.inserted_count, "upsertedCount": result.upserted_count, "matchedCount": result.matched_count,
           "modifiedCount": result.modified_count, "deletedCount": result.deleted_count}
    if result.has_verbose_results:
        out["insertResults"] = {str(k): {"insertedId": v.inserted_id} for k, v in result.insert_results.items()}
        out["updateResults"] = {str(k): {"matchedCount": v.matched_count, "modifiedCount": v.modified_count,
                                         **({"upsertedId": v.upserted_id} if v.upserted_id is not None else {})}
                                for k, v in result.update_results.items()}
        out["deleteResults"] = {str(k): {"deletedCount": v.deleted_count} for k, v in result.delete_results.items()}
    else:
        out.update({"insertResults": {}, "updateResults": {}, "deleteResults": {}})
    return out


def bulk_request(r):
    (kind, a), = r.items()
    if kind == "insertOne":
        return operations.InsertOne(a["document"])
    if kind in ("updateOne", "updateMany"):
        cls = operations.UpdateOne if kind == "updateOne" else operations.UpdateMany
        extra = {"sort": a["sort"]} if "sort" in a and kind == "updateOne" else {}
        return cls(a["filter"], a["update"], upsert=a.get("upsert", False), array_filters=a.get("arrayFilters"), hint=a.get("hint"), collation=a.get("collation"), **extra)
    if kind == "replaceOne":
        extra = {"sort": a["sort"]} if "sort" in a else {}
        return operations.ReplaceOne(a["filter"], a["replacement"], upsert=a.get("upsert", False), hint=a.get("hint"), collation=a.get("collation"), **extra)
    if kind == "deleteOne":
        return operations.DeleteOne(a["filter"], hint=a.get("hint"), collation=a.get("collation"))
    if kind == "deleteMany":
        return operations.DeleteMany(a["filter"], hint=a.get("hint"), collation=a.get("collation"))
    raise NotImplementedError(kind)


def perform(coll, db, name, a, client=None):
    # A `session` argument names a session entity: every driver call below gets it.
    if "session" in a:
        session = SESSIONS[a["session"]]
        a = {k: v for k, v in a.items() if k != "session"}
        return with_session(session, lambda: perform(coll, db, name, a, client))
    if name == "endSession":
        return None
    if name == "clientBulkWrite":
        kwargs = {"ordered": a.get("ordered", True), "verbose_results": a.get("verboseResults", False)}
        for src, dst in (("let", "let"), ("comment", "comment"), ("bypassDocumentValidation", "bypass_document_validation")):
            if src in a:
                kwargs[dst] = a[src]
        if "writeConcern" in a:
            kwargs["write_concern"] = write_concern(a["writeConcern"])
        return client_bulk_result(client.bulk_write([client_bulk_model(m) for m in a["models"]], **kwargs))
    common = {k: a[k] for k in ("let", "comment", "hint", "collation") if k in a}
    if name == "runCommand":
        if "readPreference" in a:
            mode = a["readPreference"]["mode"]
            return db.command(a["command"], read_preference=pymongo.read_preferences.make_read_preference(
                pymongo.read_preferences._MONGOS_MODES.index(mode), None))
        return db.command(a["command"])
    if name == "find":
        kwargs = {k: a[k] for k in ("sort", "skip", "limit", "projection", "batch_size", "allow_disk_use") if k in a}
        for src, dst in (("batchSize", "batch_size"), ("allowDiskUse", "allow_disk_use")):
            if src in a:
                kwargs[dst] = a[src]
        return list(coll.find(a.get("filter", {}), **kwargs, **common))
    if name == "findOne":
        return coll.find_one(a.get("filter", {}), **{k: a[k] for k in ("sort", "projection", "skip") if k in a})
    if name == "insertOne":
        return coll.insert_one(a["document"], **{k: v for k, v in common.items() if k == "comment"})
    if name == "insertMany":
        return coll.insert_many(a["documents"], ordered=a.get("ordered", True), **{k: v for k, v in common.items() if k == "comment"})
    if name in ("updateOne", "updateMany", "replaceOne"):
        f = {"updateOne": coll.update_one, "updateMany": coll.update_many, "replaceOne": coll.replace_one}[name]
        kwargs = {"upsert": a.get("upsert", False), **common}
        if "arrayFilters" in a:
            kwargs["array_filters"] = a["arrayFilters"]
        if "sort" in a:
            kwargs["sort"] = a["sort"]
        return f(a["filter"], a.get("update", a.get("replacement")), **kwargs)
    if name in ("deleteOne", "deleteMany"):
        return (coll.delete_one if name == "deleteOne" else coll.delete_many)(a["filter"], **common)
    if name == "estimatedDocumentCount":
        return coll.estimated_document_count(**{k: v for k, v in common.items() if k == "comment"})
    if name == "count":
        return db.command("count", coll.name, query=a.get("filter", {}), **{k: a[k] for k in ("skip", "limit", "collation") if k in a})["n"]
    if name == "distinct":
        return coll.distinct(a["fieldName"], a.get("filter", {}), **{k: v for k, v in common.items() if k in ("comment", "hint", "collation")})
    if name in ("findOneAndUpdate", "findOneAndReplace", "findOneAndDelete"):
        kwargs = {k: a[k] for k in ("sort", "projection", "upsert") if k in a}
        kwargs.update(common)
        if "arrayFilters" in a:
            kwargs["array_filters"] = a["arrayFilters"]
        if name != "findOneAndDelete" and a.get("returnDocument") == "After":
            kwargs["return_document"] = pymongo.ReturnDocument.AFTER
        if name == "findOneAndDelete":
            return coll.find_one_and_delete(a["filter"], **kwargs)
        if name == "findOneAndUpdate":
            return coll.find_one_and_update(a["filter"], a["update"], **kwargs)
        return coll.find_one_and_replace(a["filter"], a["replacement"], **kwargs)
    if name == "bulkWrite":
        return coll.bulk_write([bulk_request(r) for r in a["requests"]], ordered=a.get("ordered", True), **common)
    if name == "aggregate":
        kwargs = {k: a[k] for k in ("let", "comment", "hint", "maxTimeMS", "collation") if k in a}
        for src, dst in (("batchSize", "batchSize"), ("allowDiskUse", "allowDiskUse"), ("bypassDocumentValidation", "bypassDocumentValidation")):
            if src in a:
                kwargs[dst] = a[src]
        target = coll if coll is not None else db
        return list(target.aggregate(a["pipeline"], **kwargs))
    if name == "countDocuments":
        kwargs = {k: a[k] for k in ("skip", "limit", "comment", "hint", "collation") if k in a}
        return coll.count_documents(a.get("filter", {}), **kwargs)
    if name == "dropCollection":
        return db.drop_collection(a["collection"])
    if name == "createCollection":
        return db.create_collection(a["collection"], check_exists=False, **{k: v for k, v in a.items() if k != "collection"})
    if name == "modifyCollection":
        return db.command("collMod", a["collection"], **{k: v for k, v in a.items() if k != "collection"})
    if name == "createIndex":
        return coll.create_index(list(a["keys"].items()), **{k: v for k, v in a.items() if k != "keys"})
    if name == "dropIndex":
        return coll.drop_index(a["name"])
    if name == "dropIndexes":
        return coll.drop_indexes()
    if name == "dropDatabase":
        return client.drop_database(a["database"]) if "database" in a else db.client.drop_database(db.name)
    if name == "listIndexes":
        return list(coll.list_indexes())
    if name == "listCollections":
        return list(db.list_collections(filter=a.get("filter")))
    if name == "listDatabases":
        return list(client.list_databases())
    if name == "createChangeStream":
        kwargs = {}
        for src, dst in (("fullDocument", "full_document"), ("fullDocumentBeforeChange", "full_document_before_change"),
                         ("resumeAfter", "resume_after"), ("startAfter", "start_after"),
                         ("startAtOperationTime", "start_at_operation_time"), ("batchSize", "batch_size"),
                         ("maxAwaitTimeMS", "max_await_time_ms"), ("showExpandedEvents", "show_expanded_events"),
                         ("comment", "comment"), ("collation", "collation")):
            if src in a:
                kwargs[dst] = a[src]
        unknown = set(a) - {"pipeline", "fullDocument", "fullDocumentBeforeChange", "resumeAfter", "startAfter",
                            "startAtOperationTime", "batchSize", "maxAwaitTimeMS", "showExpandedEvents", "comment", "collation"}
        if unknown:
            raise NotImplementedError(f"createChangeStream {sorted(unknown)}")
        target = coll if coll is not None else db if db is not None else client
        return target.watch(a.get("pipeline", []), **kwargs)
    if name == "rename":
        return coll.rename(a["to"], **({"dropTarget": a["dropTarget"]} if "dropTarget" in a else {}))
    raise NotImplementedError(name)


def iterate_change_stream(stream, seconds=10):
    """The next event of a change stream (iterateUntilDocumentOrError), waiting at most
    `seconds` for one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        event = stream.try_next()
        if event is not None:
            return event
        if not stream.alive:
            break
    raise AssertionError(f"no change event within {seconds} s")


def with_session(session, call):
    """Runs `call` with `session` passed to the pymongo methods it uses (the collection,
    database and client methods take `session=`)."""
    import functools
    patched = []
    for cls in (pymongo.collection.Collection, pymongo.database.Database, pymongo.MongoClient):
        for attr in ("find", "find_one", "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
                     "delete_many", "estimated_document_count", "count_documents", "distinct", "find_one_and_update",
                     "find_one_and_replace", "find_one_and_delete", "bulk_write", "aggregate", "command", "drop_collection",
                     "create_collection", "create_index", "drop_index", "drop_indexes", "list_indexes", "list_collections",
                     "list_collection_names", "list_databases", "list_database_names", "drop_database"):
            original = cls.__dict__.get(attr)
            if original is None:
                continue
            def bound(*args, _original=original, **kwargs):
                kwargs.setdefault("session", session)
                return _original(*args, **kwargs)
            patched.append((cls, attr, original))
            setattr(cls, attr, functools.wraps(original)(bound))
    try:
        return call()
    finally:
        for cls, attr, original in patched:
            setattr(cls, attr, original)


# Commands the unified format leaves out of expectEvents (handshake, authentication, cleanup).
IGNORED_COMMANDS = {"hello", "ismaster", "isMaster", "saslStart", "saslContinue", "authenticate", "getnonce", "endSessions",
                    "configureFailPoint"}


def recorder(ignored=()):
    """A command listener and its events, leaving out IGNORED_COMMANDS and the client's own
    ignoreCommandMonitoringEvents."""
    events = []
    ignore = IGNORED_COMMANDS | set(ignored)

    class Listener(pymongo.monitoring.CommandListener):
        def started(self, event):
            if event.command_name not in ignore:
                events.append({"commandStartedEvent": {"command": event.command, "commandName": event.command_name,
                                                       "databaseName": event.database_name}})

        def succeeded(self, event):
            if event.command_name not in ignore:
                events.append({"commandSucceededEvent": {"commandName": event.command_name, "reply": event.reply,
                                                         "databaseName": event.database_name}})

        def failed(self, event):
            if event.command_name not in ignore:
                events.append({"commandFailedEvent": {"commandName": event.command_name, "databaseName": event.database_name}})

    return Listener(), events


def entity_client(client, spec):
    """The default client, or one of its own when the entity declares a server API or observes events."""
    if "serverApi" not in spec and "observeEvents" not in spec and "uriOptions" not in spec:
        return client, None
    listener, events = recorder(spec.get("ignoreCommandMonitoringEvents", ()))
    # As drivers' own runners do, a short heartbeat: after a state-change error the driver
    # waits for its next check of the server before retrying.
    kwargs = {"event_listeners": [listener], "heartbeatFrequencyMS": 500}
    if "serverApi" in spec:
        api = spec["serverApi"]
        kwargs["server_api"] = pymongo.server_api.ServerApi(api["version"], strict=api.get("strict"),
                                                            deprecation_errors=api.get("deprecationErrors"))
    kwargs.update(spec.get("uriOptions", {}))
    host, port = client.address
    return pymongo.MongoClient(f"mongodb://{host}:{port}/?directConnection=true", serverSelectionTimeoutMS=5000, **kwargs), events


def create_entities(client, specs, entities, clients, recorded, databases):
    """Makes the entities of a createEntities list (the suite's, or a test's own)."""
    for e in specs:
        if "client" in e:
            c, events = entity_client(client, e["client"])
            clients[e["client"]["id"]] = c
            recorded[e["client"]["id"]] = events
            entities[e["client"]["id"]] = (None, None)
        if "collection" in e:
            c = e["collection"]
            db_entity = databases[c["database"]]
            wc = c.get("collectionOptions", {}).get("writeConcern")
            rc = c.get("collectionOptions", {}).get("readConcern")
            db = clients[db_entity["client"]][db_entity["databaseName"]]
            coll = db.get_collection(c["collectionName"], write_concern=write_concern(wc) if wc else None,
                                     read_concern=pymongo.read_concern.ReadConcern(**rc) if rc else None)
            entities[c["id"]] = (coll, db)
        elif "database" in e:
            d = e["database"]
            databases[d["id"]] = d
            entities[d["id"]] = (None, clients[d["client"]][d["databaseName"]])
        if "session" in e:
            spec = e["session"]
            options = spec.get("sessionOptions", {})
            defaults = options.get("defaultTransactionOptions")
            SESSIONS[spec["id"]] = clients[spec["client"]].start_session(
                causal_consistency=options.get("causalConsistency"), snapshot=options.get("snapshot", False),
                default_transaction_options=pymongo.client_session.TransactionOptions(**session_options(defaults)) if defaults else None)
            if "snapshotTime" in options:
                # pymongo has no option for it (4.20): the session reads at the saved time
                # through the attribute its snapshot reads send as atClusterTime.
                SESSIONS[spec["id"]]._snapshot_time = SAVED[options["snapshotTime"]]
            LSIDS[spec["id"]] = SESSIONS[spec["id"]].session_id
            entities[spec["id"]] = (None, None)


def run_test(client, suite, test, check_events=False):
    entities, clients, recorded, databases = {}, {}, {}, {}
    create_entities(client, suite["createEntities"], entities, clients, recorded, databases)
    CREATE[:] = [lambda specs: create_entities(client, specs, entities, clients, recorded, databases)]
    fail_points = []
    try:
        return run_operations(client, suite, test, entities, recorded, clients, check_events, fail_points)
    finally:
        for session in SESSIONS.values():
            session.end_session()
        SESSIONS.clear()
        LSIDS.clear()
        SAVED.clear()
        for name in fail_points:
            client.admin.command({"configureFailPoint": name, "mode": "off"})
        if BLOCKED[0]:
            time.sleep(BLOCKED[0] / 1000 + 0.1)
            BLOCKED[0] = 0
        for c in clients.values():
            if c is not client:
                c.close()


def run_operations(client, suite, test, entities, recorded, clients, check_events, fail_points):
    for data in suite.get("initialData", []):
        client[data["databaseName"]].drop_collection(data["collectionName"])
        if data["documents"]:
            client[data["databaseName"]][data["collectionName"]].insert_many(data["documents"])
        else:
            client[data["databaseName"]].create_collection(data["collectionName"])
    for events in recorded.values():
        if events is not None:
            events.clear()
    context = (client, suite, entities, clients, fail_points)
    for op in test["operations"]:
        problem = run_operation(op, context)
        if problem:
            return problem
    for expected in test.get("expectEvents", []) if check_events else []:
        events = recorded.get(expected["client"])
        if events is None:
            return f"client {expected['client']} does not observe events"
        actual = [e for e in events if next(iter(e)) in {next(iter(x)) for x in expected["events"]}]
        if len(actual) != len(expected["events"]) and not expected.get("ignoreExtraEvents"):
            return f"events {[next(iter(e.values()))['commandName'] for e in actual]} do not match {expected['events']!r}"
        for want, got in zip(expected["events"], actual):
            (kind, fields), = want.items()
            for key, value in fields.items():
                # An event's command is a root-level document: extra fields (lsid, $db, ...) are allowed.
                if not matches(value, got[kind].get(key, MISSING), root=True):
                    return f"{kind} {got[kind]!r} does not match {fields!r}"[:600]
    # A fail point the operations left armed must not answer the outcome's reads.
    for name in fail_points if test.get("outcome") else []:
        client.admin.command({"configureFailPoint": name, "mode": "off"})
    for outcome in test.get("outcome", []):
        actual = list(client[outcome["databaseName"]][outcome["collectionName"]].find({}, sort=[("_id", 1)]))
        if not matches(outcome["documents"], actual, root=False):
            return f"outcome {actual!r} does not match {outcome['documents']!r}"
    return None



class CallbackProblem(Exception):
    """A withTransaction callback operation did not do what the file expects."""


def write_concern(spec):
    """A unified-format writeConcern (`journal` is pymongo's `j`)."""
    return pymongo.WriteConcern(**{("j" if k == "journal" else "wtimeout" if k == "wtimeoutMS" else k): v for k, v in spec.items()})


def session_options(a):
    kwargs = {}
    if "readConcern" in a:
        kwargs["read_concern"] = pymongo.read_concern.ReadConcern(**a["readConcern"])
    if "writeConcern" in a:
        kwargs["write_concern"] = write_concern(a["writeConcern"])
    if "readPreference" in a:
        mode = a["readPreference"]["mode"]
        kwargs["read_preference"] = {"primary": pymongo.ReadPreference.PRIMARY, "secondary": pymongo.ReadPreference.SECONDARY,
                                     "primaryPreferred": pymongo.ReadPreference.PRIMARY_PREFERRED,
                                     "secondaryPreferred": pymongo.ReadPreference.SECONDARY_PREFERRED,
                                     "nearest": pymongo.ReadPreference.NEAREST}[mode]
    if "maxCommitTimeMS" in a:
        kwargs["max_commit_time_ms"] = a["maxCommitTimeMS"]
    return kwargs


def session_operation(session, op, context):
    """The operations on a session entity (startTransaction, withTransaction, ...)."""
    name, a = op["name"], op.get("arguments", {})
    if name == "startTransaction":
        return session.start_transaction(**session_options(a))
    if name == "commitTransaction":
        return session.commit_transaction()
    if name == "abortTransaction":
        return session.abort_transaction()
    if name == "endSession":
        return session.end_session()
    if name == "getSnapshotTime":
        # The time the session's first snapshot read answered with (pymongo keeps it here).
        return session._snapshot_time
    if name == "withTransaction":
        def callback(_session):
            for inner in a["callback"]:
                problem = run_operation(inner, context, in_callback=True)
                if problem:
                    raise CallbackProblem(problem)
        return session.with_transaction(callback, **session_options(a))
    raise NotImplementedError(f"session.{name}")


# pymongo's _TxnState numbers for the unified format's state names.
TRANSACTION_STATES = {"none": {1}, "starting": {2}, "in_progress": {3}, "committed": {4, 5}, "aborted": {6}}


def runner_operation(op, context):
    """The testRunner assertions Folio can be asked (mongos pinning is for sharded clusters)."""
    client = context[0]
    name, a = op["name"], op.get("arguments", {})
    if name == "createEntities":
        CREATE[0](a["entities"])
        return None
    if name == "assertSessionTransactionState":
        state = SESSIONS[a["session"]]._transaction.state
        want = TRANSACTION_STATES[a["state"]]
        return None if state in want else f"session state {state}, wanted {a['state']}"
    if name in ("assertSessionPinned", "assertSessionUnpinned"):
        # A replica set never pins a session to a server.
        return None if name == "assertSessionUnpinned" else "assertSessionPinned on a replica set"
    if name in ("assertCollectionExists", "assertCollectionNotExists"):
        exists = a["collectionName"] in client[a["databaseName"]].list_collection_names()
        return None if exists == (name == "assertCollectionExists") else f"{name}: {a}"
    if name in ("assertIndexExists", "assertIndexNotExists"):
        names = [i["name"] for i in client[a["databaseName"]][a["collectionName"]].list_indexes()]
        return None if (a["indexName"] in names) == (name == "assertIndexExists") else f"{name}: {a} (indexes {names})"
    raise NotImplementedError(f"testRunner.{name}")


def run_operation(op, context, in_callback=False):
    """Runs one operation of a test; returns what went wrong, or None. In a withTransaction
    callback, an error the file does not expect is raised, so the driver can retry."""
    client, suite, entities, clients, fail_points = context
    if op["name"] == "failPoint":
        spec = op["arguments"]["failPoint"]
        try:
            clients[op["arguments"]["client"]].admin.command(spec)
        except pymongo.errors.OperationFailure as e:
            return f"configureFailPoint {spec['configureFailPoint']}: {e}"
        fail_points.append(spec["configureFailPoint"])
        BLOCKED[0] = max(BLOCKED[0], spec.get("data", {}).get("blockTimeMS", 0) if spec.get("data", {}).get("blockConnection") else 0)
        return None
    if op.get("object") == "testRunner":
        try:
            return runner_operation(op, context)
        except NotImplementedError as e:
            return f"runner does not implement {e}"
    try:
        if op.get("object") in SESSIONS:
            result = session_operation(SESSIONS[op["object"]], op, context)
        elif isinstance(SAVED.get(op.get("object")), pymongo.change_stream.ChangeStream):
            stream = SAVED[op["object"]]
            if op["name"] in ("iterateUntilDocumentOrError", "iterateOnce"):
                result = iterate_change_stream(stream) if op["name"] == "iterateUntilDocumentOrError" else stream.try_next()
            elif op["name"] == "close":
                result = stream.close()
            else:
                raise NotImplementedError(f"changeStream.{op['name']}")
        else:
            coll, db = entities[op["object"]]
            result = perform(coll, db, op["name"], op.get("arguments", {}), clients.get(op["object"], client))
        error = None
    except NotImplementedError as e:
        return f"runner does not implement {e}"
    except CallbackProblem as e:
        if in_callback:
            raise
        return str(e)
    except (pymongo.errors.PyMongoError, ValueError, TypeError, pymongo.errors.ClientBulkWriteException, AssertionError) as e:
        result, error = None, e
    expected_error = op.get("expectError")
    if expected_error is not None:
        if error is None:
            return f"{op['name']}: expected an error, got {result!r}"
        if isinstance(error, pymongo.errors.ClientBulkWriteException) and error.error is not None:
            error = error.error  # the top-level error the bulk write reports
        # NotPrimaryError (an AutoReconnect) has no `code`; its server reply does.
        code = getattr(error, "code", None)
        if code is None and isinstance(getattr(error, "details", None), dict):
            code = error.details.get("code")
        if "errorCode" in expected_error and code != expected_error["errorCode"]:
            return f"{op['name']}: error code {code}, wanted {expected_error['errorCode']}: {error}"
        if expected_error.get("isClientError") is False and not isinstance(error, pymongo.errors.OperationFailure):
            return f"{op['name']}: expected a server error, got {error!r}"
        if expected_error.get("isClientError") is True and isinstance(error, pymongo.errors.OperationFailure):
            return f"{op['name']}: expected a client error, got {error!r}"
        if "errorCodeName" in expected_error and (getattr(error, "details", None) or {}).get("codeName") != expected_error["errorCodeName"]:
            return f"{op['name']}: error {error} is not {expected_error['errorCodeName']}"
        labels = set(getattr(error, "_error_labels", None) or ())
        if not set(expected_error.get("errorLabelsContain", [])) <= labels:
            return f"{op['name']}: error labels {sorted(labels)} lack {expected_error['errorLabelsContain']}"
        if set(expected_error.get("errorLabelsOmit", [])) & labels:
            return f"{op['name']}: error labels {sorted(labels)} include one of {expected_error['errorLabelsOmit']}"
        if "errorContains" in expected_error and expected_error["errorContains"].lower() not in str(error).lower():
            return f"{op['name']}: error {error} lacks {expected_error['errorContains']!r}"
        if "errorResponse" in expected_error and not matches(expected_error["errorResponse"], getattr(error, "details", None) or {}):
            return f"{op['name']}: error response {getattr(error, 'details', None)!r} does not match {expected_error['errorResponse']!r}"
        if in_callback:
            raise error  # withTransaction sees the callback's errors
        return None
    if error is not None:
        if in_callback:
            raise error
        return f"{op['name']}: unexpected error {error!r}"
    if "saveResultAsEntity" in op:
        SAVED[op["saveResultAsEntity"]] = result
    if "expectResult" in op:
        actual = result_document(op["name"], result)
        if op["name"] == "bulkWrite":
            actual = {k: v for k, v in actual.items() if v is not MISSING}
        if not matches(op["expectResult"], actual):
            return f"{op['name']}: result {actual!r} does not match {op['expectResult']!r}"
    return None


def run_folder(client, folder, check_events=False):
    files = sorted((SPEC_ROOT / folder).glob("*.json"))
    passed, failed, skipped = 0, [], collections.Counter()
    fail_point_cases = collections.Counter()
    for f in files:
        suite = json_util.loads(f.read_text())
        reason = requirements_skip(suite.get("runOnRequirements"))
        for test in suite["tests"]:
            why = reason or requirements_skip(test.get("runOnRequirements")) or skip_reason(test)
            if why:
                skipped[why] += 1
                continue
            problem = run_test(client, suite, test, check_events)
            uses_fail_point = any(op["name"] == "failPoint" for op in test["operations"])
            if problem:
                failed.append(f"{f.name}: {test['description']}: {problem}")
            else:
                passed += 1
            if uses_fail_point:
                fail_point_cases["failed" if problem else "passed"] += 1
    print(f"\n{folder} via pymongo: {passed} passed, {len(failed)} failed, {sum(skipped.values())} skipped")
    if fail_point_cases:
        print(f"  of which fail-point cases: {fail_point_cases['passed']} passed, {fail_point_cases['failed']} failed")
    for why, n in sorted(skipped.items()):
        print(f"  skipped {n}: {why}")
    for line in failed:
        print(f"  FAIL {line}"[:400])
    return files, passed, failed


def test_versioned_api_through_pymongo(test_commands_server):
    server = test_commands_server
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{server['port']}/?directConnection=true", serverSelectionTimeoutMS=5000)
    # The API parameters a client declares are what these files are about, so the commands
    # it sends are checked too (crud-unified's expectEvents mostly test the runner's own
    # option mapping, and are left to the driver's test suite).
    files, passed, failed = run_folder(client, "versioned-api", check_events=True)
    client.close()
    assert len(files) >= 6
    assert not failed, failed
    assert passed >= 30


def test_crud_unified_through_pymongo(test_commands_server):
    server = test_commands_server
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{server['port']}/?directConnection=true", serverSelectionTimeoutMS=5000)
    files, passed, failed = run_folder(client, "crud-unified")
    client.close()
    assert len(files) > 100
    assert passed >= 0.9 * (passed + len(failed)), f"{len(failed)} failures"


def test_retryable_writes_through_pymongo(test_commands_server):
    """The retryable-writes folder, fail-point cases included (failCommand, and
    onPrimaryTransactionalWrite, which loses a reply after the write is applied or fails it
    before its commit, so a retry must apply it exactly once)."""
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{test_commands_server['port']}/?directConnection=true",
                                 serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=500)
    files, passed, failed = run_folder(client, "retryable-writes")
    client.close()
    assert len(files) >= 30
    assert not failed, failed
    assert passed >= 110


def test_sessions_causal_consistency_and_read_write_concern_through_pymongo(test_commands_server):
    """The sessions, causal-consistency and read-write-concern folders, with the commands each
    client sends checked against the files' expectEvents (lsid, afterClusterTime,
    readConcern, writeConcern)."""
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{test_commands_server['port']}/?directConnection=true",
                                 serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=500)
    totals = {}
    for folder in ("sessions", "causal-consistency", "read-write-concern"):
        files, passed, failed = run_folder(client, folder, check_events=True)
        assert files, folder
        assert not failed, failed
        totals[folder] = passed
    client.close()
    assert totals["causal-consistency"] >= 18 and totals["read-write-concern"] >= 10 and totals["sessions"] >= 9, totals


def test_transactions_through_pymongo(test_commands_server):
    """The transactions and transactions-convenient-api folders, with the commands each client
    sends checked against the files' expectEvents (txnNumber, autocommit, startTransaction,
    readConcern, writeConcern): at least 90% of the cases run must pass."""
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{test_commands_server['port']}/?directConnection=true",
                                 serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=500)
    for folder, at_least in (("transactions", 170), ("transactions-convenient-api", 28)):
        files, passed, failed = run_folder(client, folder, check_events=True)
        assert files, folder
        assert passed >= 0.9 * (passed + len(failed)), f"{folder}: {len(failed)} failures"
        assert passed >= at_least, (folder, passed)
    client.close()


def test_change_streams_through_pymongo(test_commands_server):
    """The change-streams folder, with the aggregate and getMore commands each client sends
    checked against the files' expectEvents (resume tokens, options, comments): at least 90%
    of the cases run must pass."""
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{test_commands_server['port']}/?directConnection=true",
                                 serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=500)
    files, passed, failed = run_folder(client, "change-streams", check_events=True)
    client.close()
    assert len(files) >= 9
    assert passed >= 0.9 * (passed + len(failed)), f"{len(failed)} failures"
    assert passed >= 40, passed
