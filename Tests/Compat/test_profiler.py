"""The profiler through pymongo (issue 21): the profile command's levels, slowms and filter, and
system.profile as MongoDB writes it."""
import datetime


def test_profile_levels_and_entries(db, client):
    assert db.command("profile", -1)["was"] == 0
    db.command("profile", 2)
    db.people.insert_many([{"name": n, "age": a} for n, a in [("ann", 31), ("bob", 17), ("cy", 45)]])
    db.people.create_index("age")
    assert len(list(db.people.find({"age": {"$gte": 18}}))) == 2
    db.people.update_many({"age": {"$lt": 18}}, {"$set": {"minor": True}})
    db.command("profile", 0)
    entries = list(db.system.profile.find({"ns": "%s.people" % db.name}))
    assert [e["op"] for e in entries] == ["insert", "command", "query", "update"]
    query = entries[2]
    assert query["planSummary"] == "IXSCAN { age: 1 }"
    assert query["nreturned"] == 2 and query["docsExamined"] == 2 and query["keysExamined"] >= 2
    assert query["command"]["filter"] == {"age": {"$gte": 18}}
    assert isinstance(query["ts"], datetime.datetime) and query["client"] == "127.0.0.1"
    assert entries[3]["nMatched"] == 1 and entries[3]["nModified"] == 1
    assert entries[0]["ninserted"] == 3
    assert db.system.profile.options() == {"capped": True, "size": 1048576}


def test_profile_filter(db):
    reply = db.command("profile", 1, filter={"op": "query", "nreturned": {"$gte": 2}})
    assert reply["was"] == 0 and "note" in reply
    db.c.insert_many([{"_id": i} for i in range(3)])
    db.c.find_one({"_id": 1})
    list(db.c.find())
    assert db.command("profile", 0, filter="unset")["filter"] == {"op": "query", "nreturned": {"$gte": 2}}
    assert [e["nreturned"] for e in db.system.profile.find()] == [3]
