"""Schema validation (create/collMod validator, validationLevel, validationAction) through pymongo."""
import pytest
from bson import Int64
from pymongo.errors import BulkWriteError, OperationFailure, WriteError


def test_query_validator_refuses_inserts_and_updates_with_details(db):
    db.create_collection("people", validator={"age": {"$gte": 0}, "name": {"$type": "string"}})
    db.people.insert_one({"_id": 1, "name": "Ada", "age": 36})
    with pytest.raises(WriteError) as e:
        db.people.insert_one({"_id": 2, "name": "Bob", "age": -1})
    assert e.value.code == 121
    assert e.value.details["codeName"] == "DocumentValidationFailure"
    assert e.value.details["errmsg"] == "Document failed validation"
    info = e.value.details["errInfo"]
    assert info["failingDocumentId"] == 2
    assert info["details"] == {
        "operatorName": "$and",
        "clausesNotSatisfied": [{"index": 0, "details": {
            "operatorName": "$gte", "specifiedAs": {"age": {"$gte": 0}}, "reason": "comparison failed", "consideredValue": -1}}],
    }
    with pytest.raises(WriteError) as e:
        db.people.update_one({"_id": 1}, {"$set": {"name": 7}})
    assert e.value.code == 121
    assert e.value.details["errInfo"]["details"]["clausesNotSatisfied"] == [{"index": 1, "details": {
        "operatorName": "$type", "specifiedAs": {"name": {"$type": "string"}}, "reason": "type did not match",
        "consideredValue": 7, "consideredType": "int"}}]
    with pytest.raises(WriteError) as e:
        db.people.replace_one({"_id": 1}, {"age": 3})
    assert e.value.details["errInfo"]["details"]["clausesNotSatisfied"][0]["details"]["reason"] == "field was missing"
    # Nothing refused was written; bypassDocumentValidation lets it through.
    assert list(db.people.find()) == [{"_id": 1, "name": "Ada", "age": 36}]
    db.people.insert_one({"_id": 3, "age": -5}, bypass_document_validation=True)
    assert db.people.count_documents({}) == 2


def test_unordered_batch_reports_each_failure(db):
    db.create_collection("items", validator={"qty": {"$type": "number"}})
    with pytest.raises(BulkWriteError) as e:
        db.items.insert_many([{"_id": 1, "qty": 1}, {"_id": 2, "qty": "x"}, {"_id": 3, "qty": 2.5}, {"_id": 4}], ordered=False)
    errors = e.value.details["writeErrors"]
    assert [(w["index"], w["code"]) for w in errors] == [(1, 121), (3, 121)]
    assert errors[0]["errInfo"] == {"failingDocumentId": 2, "details": {
        "operatorName": "$type", "specifiedAs": {"qty": {"$type": "number"}}, "reason": "type did not match",
        "consideredValue": "x", "consideredType": "string"}}
    assert e.value.details["nInserted"] == 2


def test_or_and_expr_details(db):
    db.create_collection("contacts", validator={"$or": [{"phone": {"$type": "string"}}, {"status": {"$in": ["Unknown", "Incomplete"]}}]})
    with pytest.raises(WriteError) as e:
        db.contacts.insert_one({"_id": 1, "status": "Done"})
    assert e.value.details["errInfo"]["details"] == {"operatorName": "$or", "clausesNotSatisfied": [
        {"index": 0, "details": {"operatorName": "$type", "specifiedAs": {"phone": {"$type": "string"}}, "reason": "field was missing"}},
        {"index": 1, "details": {"operatorName": "$in", "specifiedAs": {"status": {"$in": ["Unknown", "Incomplete"]}},
                                 "reason": "no matching value found in array", "consideredValue": "Done"}}]}
    db.create_collection("ranges", validator={"$expr": {"$lt": ["$lo", "$hi"]}})
    with pytest.raises(WriteError) as e:
        db.ranges.insert_one({"_id": 1, "lo": 5, "hi": 2})
    assert e.value.details["errInfo"]["details"] == {"operatorName": "$expr", "specifiedAs": {"$expr": {"$lt": ["$lo", "$hi"]}},
                                                     "reason": "expression did not match", "expressionResult": False}


def test_json_schema_details(db):
    schema = {"bsonType": "object", "required": ["name", "year"],
              "properties": {"name": {"bsonType": "string"}, "year": {"bsonType": "int", "minimum": 2017},
                             "tags": {"bsonType": "array", "items": {"bsonType": "string"}}}}
    db.create_collection("students", validator={"$jsonSchema": schema})
    db.students.insert_one({"name": "Ada", "year": 2020})
    with pytest.raises(WriteError) as e:
        db.students.insert_one({"_id": 9, "year": 2000, "tags": ["a", 5]})
    assert e.value.details["errInfo"]["details"] == {"operatorName": "$jsonSchema", "schemaRulesNotSatisfied": [
        {"operatorName": "properties", "propertiesNotSatisfied": [
            {"propertyName": "year", "details": [{"operatorName": "minimum", "specifiedAs": {"minimum": 2017},
                                                  "reason": "comparison failed", "consideredValue": 2000}]},
            {"propertyName": "tags", "details": [{"operatorName": "items", "reason": "At least one item did not match the sub-schema",
                                                  "itemIndex": 1, "details": [{"operatorName": "bsonType", "specifiedAs": {"bsonType": "string"},
                                                                               "reason": "type did not match", "consideredValue": 5,
                                                                               "consideredType": "int"}]}]}]},
        {"operatorName": "required", "specifiedAs": {"required": ["name", "year"]}, "missingProperties": ["name"]}]}


def test_coll_mod_levels_actions_and_find_and_modify(db):
    db.docs.insert_many([{"_id": 1, "x": "a"}, {"_id": 2, "x": 5}])
    assert db.command("collMod", "docs", validator={"x": {"$type": "string"}})["ok"] == 1.0
    options = db.docs.options()
    assert options["validator"] == {"x": {"$type": "string"}}
    # strict: updating the already-invalid document must make it valid.
    with pytest.raises(OperationFailure) as e:
        db.docs.find_one_and_update({"_id": 2}, {"$set": {"y": 1}})
    assert e.value.code == 121 and e.value.details["errInfo"]["failingDocumentId"] == 2
    # moderate: documents that were invalid may stay invalid, valid ones may not become invalid.
    db.command("collMod", "docs", validationLevel="moderate")
    assert db.docs.update_one({"_id": 2}, {"$set": {"y": 1}}).modified_count == 1
    with pytest.raises(WriteError):
        db.docs.update_one({"_id": 1}, {"$set": {"x": 1}})
    # warn: the write goes ahead.
    db.command("collMod", "docs", validationAction="warn", validationLevel="strict")
    assert db.docs.update_one({"_id": 1}, {"$set": {"x": 1}}).modified_count == 1
    # off.
    db.command("collMod", "docs", validationAction="error", validationLevel="off")
    db.docs.insert_one({"_id": 3, "x": []})
    # upserts are validated like inserts.
    db.command("collMod", "docs", validationLevel="strict")
    with pytest.raises(WriteError):
        db.docs.update_one({"_id": 4}, {"$set": {"x": 4}}, upsert=True)
    assert db.docs.find_one({"_id": 4}) is None
    # Removing the validator.
    db.command("collMod", "docs", validator={})
    db.docs.insert_one({"_id": 5, "x": 5})


def test_option_errors(db):
    with pytest.raises(OperationFailure) as e:
        db.create_collection("bad1", validator={"$where": "true"})
    assert e.value.code == 224
    with pytest.raises(OperationFailure) as e:
        db.create_collection("bad2", validator={"a": 1}, validationLevel="sometimes")
    assert e.value.code == 2
    with pytest.raises(OperationFailure) as e:
        db.create_collection("bad3", validator={"a": {"$bogus": 1}})
    assert e.value.code == 2
    assert "bad1" not in db.list_collection_names()
    with pytest.raises(OperationFailure) as e:
        db.command("collMod", "nothere", validator={"a": 1})
    assert e.value.code == 26


def test_coll_mod_index_hidden_and_ttl(db):
    db.events.create_index("at", expireAfterSeconds=100)
    db.events.create_index("kind")
    reply = db.command("collMod", "events", index={"keyPattern": {"kind": 1}, "hidden": True})
    assert reply["hidden_old"] is False and reply["hidden_new"] is True
    assert [i.get("hidden") for i in db.events.list_indexes() if i["name"] == "kind_1"] == [True]
    reply = db.command("collMod", "events", index={"name": "at_1", "expireAfterSeconds": Int64(5)})
    assert reply["expireAfterSeconds_old"] == 100 and reply["expireAfterSeconds_new"] == 5
    with pytest.raises(OperationFailure) as e:
        db.command("collMod", "events", index={"name": "nope", "hidden": True})
    assert e.value.code == 27
    with pytest.raises(OperationFailure) as e:
        db.command("collMod", "events", viewOn="x")
    assert e.value.code == 72  # a view's option on a collection
