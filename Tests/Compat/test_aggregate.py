"""Realistic aggregation pipelines through pymongo, with exact results and types."""
import datetime

import pymongo
import pytest
from bson.int64 import Int64


@pytest.fixture
def shop(db):
    db.categories.insert_many([{"_id": "books", "label": "Books"}, {"_id": "games", "label": "Games"},
                               {"_id": "music", "label": "Music"}])
    db.products.insert_many([
        {"_id": 1, "name": "Dune", "category": "books", "price": 10.0},
        {"_id": 2, "name": "Chess", "category": "games", "price": 25.0},
        {"_id": 3, "name": "Go", "category": "games", "price": 40.0},
        {"_id": 4, "name": "Jazz LP", "category": "music", "price": 15.0},
    ])
    day = lambda m, d: datetime.datetime(2024, m, d, 12, 0)
    db.orders.insert_many([
        {"_id": 100, "customer": "ada", "date": day(1, 5), "items": [{"product": 1, "qty": 2}, {"product": 2, "qty": 1}]},
        {"_id": 101, "customer": "bob", "date": day(1, 20), "items": [{"product": 3, "qty": 1}]},
        {"_id": 102, "customer": "ada", "date": day(2, 2), "items": [{"product": 4, "qty": 3}]},
        {"_id": 103, "customer": "cy", "date": day(3, 15), "items": [{"product": 2, "qty": 2}, {"product": 1, "qty": 1}]},
        {"_id": 104, "customer": "bob", "date": day(3, 30), "items": [{"product": 3, "qty": 2}]},
    ])
    return db


def test_revenue_by_category_with_lookup_unwind_group_sort_limit(shop):
    rows = list(shop.orders.aggregate([
        {"$unwind": "$items"},
        {"$lookup": {"from": "products", "localField": "items.product", "foreignField": "_id", "as": "product"}},
        {"$unwind": "$product"},
        {"$lookup": {"from": "categories", "let": {"c": "$product.category"},
                     "pipeline": [{"$match": {"$expr": {"$eq": ["$_id", "$$c"]}}}, {"$project": {"_id": 0, "label": 1}}],
                     "as": "category"}},
        {"$group": {"_id": {"$first": "$category.label"},
                    "revenue": {"$sum": {"$multiply": ["$items.qty", "$product.price"]}},
                    "units": {"$sum": "$items.qty"}}},
        {"$sort": {"revenue": -1}},
        {"$limit": 2},
    ]))
    assert rows == [{"_id": "Games", "revenue": 195.0, "units": 6}, {"_id": "Music", "revenue": 45.0, "units": 3}]
    assert type(rows[0]["units"]) is int and type(rows[0]["revenue"]) is float


def test_customer_lifetime_value_with_datediff_and_switch(shop):
    rows = list(shop.orders.aggregate([
        {"$group": {"_id": "$customer", "first": {"$min": "$date"}, "last": {"$max": "$date"}, "orders": {"$sum": 1}}},
        {"$set": {"days": {"$dateDiff": {"startDate": "$first", "endDate": "$last", "unit": "day"}},
                  "tier": {"$switch": {"branches": [{"case": {"$gte": ["$orders", 2]}, "then": "repeat"}],
                                       "default": "one-off"}}}},
        {"$project": {"_id": 1, "days": 1, "tier": 1}},
        {"$sort": {"_id": 1}},
    ]))
    assert rows == [{"_id": "ada", "days": 28, "tier": "repeat"}, {"_id": "bob", "days": 70, "tier": "repeat"},
                    {"_id": "cy", "days": 0, "tier": "one-off"}]
    assert isinstance(rows[0]["days"], Int64)


def test_monthly_buckets_with_datetostring(shop):
    rows = list(shop.orders.aggregate([
        {"$bucket": {"groupBy": "$date",
                     "boundaries": [datetime.datetime(2024, 1, 1), datetime.datetime(2024, 2, 1),
                                    datetime.datetime(2024, 3, 1), datetime.datetime(2024, 4, 1)],
                     "output": {"orders": {"$sum": 1}, "customers": {"$addToSet": "$customer"}}}},
        {"$project": {"_id": 0, "month": {"$dateToString": {"date": "$_id", "format": "%Y-%m"}}, "orders": 1,
                      "customers": {"$size": "$customers"}}},
    ]))
    assert rows == [{"orders": 2, "customers": 2, "month": "2024-01"}, {"orders": 1, "customers": 1, "month": "2024-02"},
                    {"orders": 2, "customers": 2, "month": "2024-03"}]


def test_facet_with_counts_and_a_page(shop):
    [result] = list(shop.products.aggregate([
        {"$facet": {
            "total": [{"$count": "n"}],
            "byCategory": [{"$sortByCount": "$category"}],
            "page": [{"$sort": {"price": -1}}, {"$skip": 1}, {"$limit": 2}, {"$project": {"name": 1}}],
        }},
    ]))
    assert result["total"] == [{"n": 4}]
    assert result["byCategory"][0] == {"_id": "games", "count": 2}
    assert result["page"] == [{"_id": 2, "name": "Chess"}, {"_id": 4, "name": "Jazz LP"}]


def test_bucket_auto_granularity(shop):
    # POWERSOF2 boundaries are $pow(2, n): ints even for double prices; R-series ones doubles.
    buckets = list(shop.products.aggregate([
        {"$bucketAuto": {"groupBy": "$price", "buckets": 2, "granularity": "POWERSOF2",
                         "output": {"names": {"$push": "$name"}}}}]))
    assert buckets == [{"_id": {"min": 8, "max": 16}, "names": ["Dune", "Jazz LP"]},
                       {"_id": {"min": 16, "max": 64}, "names": ["Chess", "Go"]}]
    assert all(type(b["_id"][k]) is int for b in buckets for k in ("min", "max"))
    buckets = list(shop.products.aggregate([{"$bucketAuto": {"groupBy": "$price", "buckets": 2, "granularity": "R10"}}]))
    assert buckets == [{"_id": {"min": 8.0, "max": 16.0}, "count": 2}, {"_id": {"min": 16.0, "max": 50.0}, "count": 2}]
    assert type(buckets[0]["_id"]["min"]) is float
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        list(shop.products.aggregate([{"$bucketAuto": {"groupBy": "$name", "buckets": 2, "granularity": "R10"}}]))
    assert e.value.code == 40258


def test_cursor_batches_out_and_errors(shop):
    shop.many.insert_many([{"_id": i, "v": i % 7} for i in range(250)])
    cursor = shop.many.aggregate([{"$sort": {"_id": -1}}], batchSize=20)
    assert [d["_id"] for d in cursor] == list(range(249, -1, -1))
    assert shop.many.count_documents({"v": 3}) == 36
    assert shop.many.count_documents({}, skip=10, limit=5) == 5
    assert list(shop.many.aggregate([{"$group": {"_id": "$v", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}},
                                     {"$out": "counts"}])) == []
    assert shop.counts.find_one({"_id": 0}) == {"_id": 0, "n": 36}
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        list(shop.many.aggregate([{"$group": {"_id": "$v", "n": {"$sumx": 1}}}]))
    assert e.value.code == 15952 and e.value.details["codeName"] == "Location15952"
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        shop.command({"aggregate": "many", "pipeline": []})
    assert e.value.code == 9 and e.value.details["codeName"] == "FailedToParse"
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        list(shop.aggregate([{"$match": {}}]))
    assert e.value.code == 73
    for command in ({"count": "many", "maxTimeMS": -1}, {"distinct": "many", "key": "v", "maxTimeMS": -1},
                    {"aggregate": "many", "pipeline": [], "cursor": {}, "maxTimeMS": -1}):
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            shop.command(command)
        assert e.value.code == 2
    assert shop.command({"count": "many", "query": {"v": 1}, "maxTimeMS": 60000})["n"] == 36


def test_sessions_own_their_cursors(client):
    coll = client.compat_sessions.c
    coll.drop()
    coll.insert_many([{"_id": i} for i in range(10)])
    with client.start_session() as s:
        reply = client.compat_sessions.command({"find": "c", "batchSize": 2}, session=s)
        cursor_id = reply["cursor"]["id"]
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            with client.start_session() as other:
                client.compat_sessions.command({"getMore": cursor_id, "collection": "c"}, session=other)
        assert e.value.code == 50738
        more = client.compat_sessions.command({"getMore": cursor_id, "collection": "c"}, session=s)
        assert len(more["cursor"]["nextBatch"]) == 8
        assert any(x["_id"]["id"] == s.session_id["id"] for x in client.admin.aggregate([{"$listLocalSessions": {}}]))
    client.drop_database("compat_sessions")
