"""Vector search through pymongo, as Atlas Vector Search code calls it: the search index
lifecycle (create_search_index / list_search_indexes / update_search_index /
drop_search_index), $vectorSearch with each similarity (scores checked against exact
arithmetic in float32, as Lucene computes them), filters on filter fields, `exact`, BSON
binary vectors (float32, int8, packed bit), writes followed by the index, and the errors."""
import random
import struct

import numpy as np
import pytest
from bson.binary import Binary, BinaryVectorDtype
from pymongo.errors import OperationFailure
from pymongo.operations import SearchIndexModel

DIMS = 16


def vectors(n, seed):
    rng = random.Random(seed)
    return [[rng.uniform(-1, 1) for _ in range(DIMS)] for _ in range(n)]


def create(coll, similarity="euclidean", filters=("tenant",), name="vec", path="embedding", dims=DIMS, quantization=None):
    field = {"type": "vector", "path": path, "numDimensions": dims, "similarity": similarity}
    if quantization:
        field["quantization"] = quantization
    fields = [field] + [{"type": "filter", "path": p} for p in filters]
    return coll.create_search_index(SearchIndexModel(name=name, type="vectorSearch", definition={"fields": fields}))


def search(coll, query, limit=5, candidates=100, index="vec", path="embedding", **extra):
    stage = {"index": index, "path": path, "queryVector": query, "limit": limit, **extra}
    if not extra.get("exact"):
        stage["numCandidates"] = candidates
    return list(coll.aggregate([{"$vectorSearch": stage}, {"$project": {"_id": 1, "tenant": 1, "score": {"$meta": "vectorSearchScore"}}}]))


def expected_score(similarity, v, q):
    a, b = np.array(v, dtype=np.float32), np.array(q, dtype=np.float32)
    if similarity == "euclidean":
        return float(np.float32(1) / (np.float32(1) + np.sum((a - b) ** 2, dtype=np.float32)))
    if similarity == "cosine":
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return max(float((np.float32(1) + np.dot(a, b)) / np.float32(2)), 0.0)


@pytest.fixture()
def coll(db):
    c = db.messages
    docs = vectors(1500, 1)
    c.insert_many([{"_id": i, "tenant": f"t{i % 10}", "n": i, "embedding": v} for i, v in enumerate(docs)])
    return c


def test_index_lifecycle_as_drivers_poll_it(coll):
    assert create(coll) == "vec"
    [listed] = list(coll.list_search_indexes())
    assert listed["name"] == "vec" and listed["type"] == "vectorSearch"
    assert listed["status"] == "READY" and listed["queryable"] is True
    assert len(listed["id"]) == 24
    assert listed["latestDefinition"]["fields"][0] == {"type": "vector", "path": "embedding", "numDimensions": DIMS, "similarity": "euclidean"}
    assert list(coll.list_search_indexes("vec"))[0]["id"] == listed["id"]
    assert list(coll.aggregate([{"$listSearchIndexes": {"id": listed["id"]}}]))[0]["name"] == "vec"
    assert list(coll.list_search_indexes("other")) == []
    # Search indexes are not regular indexes.
    assert [i["name"] for i in coll.list_indexes()] == ["_id_"]
    # A second index of the same name is refused; a differently named one is fine.
    with pytest.raises(OperationFailure) as e:
        create(coll)
    assert e.value.code == 68
    create(coll, similarity="cosine", name="vec2")
    assert sorted(i["name"] for i in coll.list_search_indexes()) == ["vec", "vec2"]
    coll.update_search_index("vec", {"fields": [{"type": "vector", "path": "embedding", "numDimensions": DIMS, "similarity": "dotProduct"}]})
    updated = list(coll.list_search_indexes("vec"))[0]
    assert updated["latestDefinition"]["fields"][0]["similarity"] == "dotProduct"
    assert updated["latestDefinitionVersion"]["version"] == 1
    assert updated["id"] == listed["id"]
    coll.drop_search_index("vec2")
    assert [i["name"] for i in coll.list_search_indexes()] == ["vec"]
    with pytest.raises(OperationFailure) as e:
        coll.drop_search_index("vec2")
    assert e.value.code == 27
    # Missing collections: listing gives nothing, creating is refused.
    assert list(coll.database.nothing.list_search_indexes()) == []
    with pytest.raises(OperationFailure) as e:
        create(coll.database.nothing)
    assert e.value.code == 26
    # Dropping the collection drops its search indexes.
    coll.drop()
    coll.insert_one({"_id": 1})
    assert list(coll.list_search_indexes()) == []


@pytest.mark.parametrize("similarity", ["euclidean", "cosine", "dotProduct"])
def test_each_similarity_ranks_and_scores_as_exact_arithmetic(coll, similarity):
    create(coll, similarity=similarity)
    docs = {d["_id"]: d["embedding"] for d in coll.find({}, {"embedding": 1})}
    for q in vectors(5, 7):
        found = search(coll, q, limit=10, candidates=200)
        exact = sorted(docs, key=lambda i: -expected_score(similarity, docs[i], q))[:10]
        assert len(found) == 10
        assert len({d["_id"] for d in found} & set(exact)) >= 9
        scores = [d["score"] for d in found]
        assert scores == sorted(scores, reverse=True)
        for d in found:
            assert d["score"] == pytest.approx(expected_score(similarity, docs[d["_id"]], q), rel=1e-5, abs=1e-6)
        # exact: true returns the exact neighbours.
        assert [d["_id"] for d in search(coll, q, limit=10, exact=True)] == exact


def test_filters_apply_during_the_search(coll):
    create(coll, filters=("tenant", "n"))
    q = vectors(1, 9)[0]
    found = search(coll, q, limit=10, filter={"tenant": "t3"})
    assert len(found) == 10 and all(d["tenant"] == "t3" for d in found)
    exact = search(coll, q, limit=10, exact=True, filter={"tenant": "t3"})
    assert [d["_id"] for d in found] == [d["_id"] for d in exact]
    # A filter that keeps one document in a hundred still fills the limit.
    rare = search(coll, q, limit=10, filter={"n": {"$in": list(range(0, 1500, 100))}})
    assert len(rare) == 10 and all(d["_id"] % 100 == 0 for d in rare)
    combined = search(coll, q, limit=5, filter={"$and": [{"tenant": {"$ne": "t1"}}, {"n": {"$gte": 700, "$lt": 900}}]})
    assert len(combined) == 5 and all(700 <= d["_id"] < 900 and d["_id"] % 10 != 1 for d in combined)
    assert search(coll, q, filter={"tenant": {"$exists": False}}) == []
    assert len(search(coll, q, filter={"$or": [{"tenant": "t2"}, {"tenant": {"$not": {"$eq": "t2"}}}]})) == 5
    # Filters on fields the index does not declare are refused, as are operators beyond Atlas's subset.
    with pytest.raises(OperationFailure) as e:
        search(coll, q, filter={"other": 1})
    assert "needs to be indexed as filter" in str(e.value)
    with pytest.raises(OperationFailure) as e:
        search(coll, q, filter={"tenant": {"$regex": "t"}})
    assert "$regex" in str(e.value)


def test_binary_vectors(db):
    c = db.binary
    rng = np.random.default_rng(4)
    floats = rng.standard_normal((200, DIMS)).astype(np.float32)
    c.insert_many([{"_id": i, "embedding": Binary.from_vector(v.tolist(), BinaryVectorDtype.FLOAT32)} for i, v in enumerate(floats)])
    create(c, filters=())
    q = floats[17]
    found = search(c, Binary.from_vector(q.tolist(), BinaryVectorDtype.FLOAT32), limit=3)
    assert found[0]["_id"] == 17 and found[0]["score"] == 1.0
    # A float32 BSON vector and an array of the same numbers are the same query.
    assert [d["_id"] for d in search(c, [float(x) for x in q], limit=3)] == [d["_id"] for d in found]
    # int8 vectors, compared as their integer values.
    i8 = db.int8
    ints = rng.integers(-128, 128, (100, DIMS))
    i8.insert_many([{"_id": i, "embedding": Binary.from_vector(v.tolist(), BinaryVectorDtype.INT8)} for i, v in enumerate(ints)])
    create(i8, filters=())
    got = search(i8, Binary.from_vector(ints[5].tolist(), BinaryVectorDtype.INT8), limit=2)
    assert got[0]["_id"] == 5 and got[0]["score"] == 1.0
    second = ints[got[1]["_id"]].astype(np.float64)
    assert got[1]["score"] == pytest.approx(1 / (1 + float(np.sum((second - ints[5]) ** 2))), rel=1e-6)
    # Packed bits: 16 dimensions in two bytes; euclidean distance is then the Hamming distance.
    bits = db.bits
    # (pymongo packs each int of the list as one byte of 8 dimensions, most significant bit first.)
    bits.insert_many([{"_id": i, "embedding": Binary.from_vector([i, 0], BinaryVectorDtype.PACKED_BIT)} for i in range(64)])
    create(bits, filters=())
    q = Binary.from_vector([6, 0], BinaryVectorDtype.PACKED_BIT)
    out = search(bits, q, limit=3, exact=True)
    assert out[0]["_id"] == 6 and out[0]["score"] == 1.0 and out[1]["score"] == 0.5


def test_writes_are_followed_at_once(coll):
    create(coll)
    q = [0.5] * DIMS
    assert search(coll, q, limit=1)[0]["_id"] != "new"
    coll.insert_one({"_id": "new", "tenant": "t1", "embedding": q})
    assert search(coll, q, limit=1)[0] == {"_id": "new", "tenant": "t1", "score": 1.0}
    coll.update_one({"_id": "new"}, {"$set": {"tenant": "t9"}})
    assert search(coll, q, limit=1, filter={"tenant": "t9"})[0]["_id"] == "new"
    assert search(coll, q, limit=1, filter={"tenant": "t1"})[0]["_id"] != "new"
    coll.update_one({"_id": "new"}, {"$set": {"embedding": [-0.5] * DIMS}})
    assert search(coll, q, limit=1)[0]["_id"] != "new"
    assert search(coll, [-0.5] * DIMS, limit=1)[0]["_id"] == "new"
    coll.delete_one({"_id": "new"})
    assert all(d["_id"] != "new" for d in search(coll, [-0.5] * DIMS, limit=20, exact=True))
    # Documents without a usable vector (missing, wrong length, not numbers) are left out, not refused.
    coll.insert_many([{"_id": "none"}, {"_id": "short", "embedding": [1, 2]}, {"_id": "text", "embedding": "abc"}])
    assert not {"none", "short", "text"} & {d["_id"] for d in search(coll, q, limit=2000, exact=True)}
    # A committed transaction's inserts are found; an aborted one's are not.
    client = coll.database.client
    with client.start_session() as s:
        with s.start_transaction():
            coll.insert_one({"_id": "tx", "tenant": "t0", "embedding": q}, session=s)
    with client.start_session() as s:
        s.start_transaction()
        coll.insert_one({"_id": "aborted", "tenant": "t0", "embedding": [0.25] * DIMS}, session=s)
        s.abort_transaction()
    assert search(coll, q, limit=1)[0]["_id"] == "tx"
    assert search(coll, [0.25] * DIMS, limit=1, exact=True)[0]["_id"] != "aborted"


def test_pipeline_around_the_stage(coll):
    create(coll)
    q = vectors(1, 11)[0]
    top = search(coll, q, limit=10)
    # A following $limit, $match and $sort on the score work with the results.
    two = list(coll.aggregate([{"$vectorSearch": {"index": "vec", "path": "embedding", "queryVector": q, "numCandidates": 100, "limit": 10}},
                               {"$limit": 2}, {"$project": {"_id": 1}}]))
    assert [d["_id"] for d in two] == [d["_id"] for d in top[:2]]
    kept = list(coll.aggregate([{"$vectorSearch": {"index": "vec", "path": "embedding", "queryVector": q, "numCandidates": 100, "limit": 10}},
                                {"$project": {"tenant": 1}},
                                {"$addFields": {"s": {"$meta": "vectorSearchScore"}}}, {"$sort": {"s": 1}}]))
    assert [d["_id"] for d in kept] == [d["_id"] for d in reversed(top)]
    assert all("$__folioVectorSearchScore" not in d and "embedding" not in d for d in kept)
    # In a $unionWith or $lookup sub-pipeline the score is readable there and goes no further.
    stage = {"$vectorSearch": {"index": "vec", "path": "embedding", "queryVector": q, "numCandidates": 100, "limit": 2}}
    union = list(coll.aggregate([{"$limit": 1}, {"$project": {"_id": 1}}, {"$unionWith": {"coll": coll.name, "pipeline": [stage, {"$project": {"_id": 1}}]}}]))
    assert union[1:] == [{"_id": d["_id"]} for d in top[:2]]
    looked = list(coll.aggregate([{"$limit": 1}, {"$lookup": {"from": coll.name, "as": "near", "pipeline": [
        stage, {"$project": {"_id": 1, "s": {"$meta": "vectorSearchScore"}}}]}}]))
    assert looked[0]["near"] == [{"_id": d["_id"], "s": d["score"]} for d in top[:2]]
    # explain shows the stage as given with how it searched.
    explained = coll.database.command("explain", {"aggregate": coll.name, "pipeline": [stage], "cursor": {}})["stages"][0]["$vectorSearch"]
    assert explained["explain"]["plan"] == "HNSW" and explained["explain"]["liveVectors"] == 1500 and explained["limit"] == 2
    # A missing index or collection gives no results, as Atlas does.
    assert search(coll, q, index="nope") == []
    assert search(coll.database.nothing, q) == []


def test_errors(coll):
    create(coll)
    q = vectors(1, 2)[0]

    def code(stage, pipeline_after=()):
        with pytest.raises(OperationFailure) as e:
            list(coll.aggregate([{"$vectorSearch": stage}, *pipeline_after]))
        return e.value.code, str(e.value)

    base = {"index": "vec", "path": "embedding", "queryVector": q, "numCandidates": 100, "limit": 5}
    assert code({**base, "limit": 0})[0] == 7912700
    assert code({**base, "limit": "5"})[0] == 8575100
    assert "numCandidates" in code({**base, "numCandidates": 2})[1]
    assert "10000" in code({**base, "numCandidates": 20000, "limit": 5})[1]
    assert "numCandidates" in code({k: v for k, v in base.items() if k != "numCandidates"})[1]
    assert "not allowed" in code({**base, "exact": True})[1]
    assert "dimensions" in code({**base, "queryVector": [1.0, 2.0]})[1]
    assert "indexed as vector" in code({**base, "path": "other"})[1]
    assert code({**base, "bogus": 1})[0] == 9
    with pytest.raises(OperationFailure) as e:
        list(coll.aggregate([{"$match": {}}, {"$vectorSearch": base}]))
    assert e.value.code == 40602
    with pytest.raises(OperationFailure) as e:
        list(coll.aggregate([{"$vectorSearch": 1}]))
    assert e.value.code == 9
    # Bad definitions.
    for definition, fragment in [
        ({"fields": [{"type": "vector", "path": "e", "numDimensions": 0, "similarity": "cosine"}]}, "numDimensions"),
        ({"fields": [{"type": "vector", "path": "e", "numDimensions": 9000, "similarity": "cosine"}]}, "numDimensions"),
        ({"fields": [{"type": "vector", "path": "e", "numDimensions": 3, "similarity": "manhattan"}]}, "similarity"),
        ({"fields": [{"type": "vector", "path": "e", "numDimensions": 3, "similarity": "cosine", "quantization": "pq"}]}, "quantization"),
        ({"fields": [{"type": "filter", "path": "e"}]}, "vector"),
        ({"fields": [{"type": "text", "path": "e"}]}, "type"),
        ({}, "fields"),
    ]:
        with pytest.raises(OperationFailure) as e:
            coll.create_search_index(SearchIndexModel(name="bad", type="vectorSearch", definition=definition))
        assert e.value.code == 2 and fragment in str(e.value), (definition, str(e.value))
    # Atlas Search's full-text indexes are refused, not stored and ignored.
    with pytest.raises(OperationFailure) as e:
        coll.create_search_index(SearchIndexModel(name="text", definition={"mappings": {"dynamic": True}}))
    assert e.value.code == 115 and "Atlas" in str(e.value)
    with pytest.raises(OperationFailure) as e:
        coll.database.command({"dropSearchIndex": coll.name, "name": "vec", "id": "x"})
    assert e.value.code == 72


@pytest.mark.parametrize("quantization", ["scalar", "binary"])
@pytest.mark.parametrize("similarity", ["euclidean", "cosine", "dotProduct"])
def test_quantized_indexes_rescore_with_full_vectors(coll, quantization, similarity):
    """The graph walks quantized codes (int8 or one bit per dimension), then rescores its
    candidates with the full float32 vectors: scores are exact arithmetic, never the
    quantized approximation, and enough candidates give the exact neighbours."""
    create(coll, similarity=similarity, quantization=quantization)
    [listed] = list(coll.list_search_indexes())
    assert listed["latestDefinition"]["fields"][0]["quantization"] == quantization
    docs = {d["_id"]: d["embedding"] for d in coll.find({}, {"embedding": 1})}
    for q in vectors(3, 11):
        exact = sorted(docs, key=lambda i: -expected_score(similarity, docs[i], q))[:10]
        assert [d["_id"] for d in search(coll, q, limit=10, exact=True)] == exact
        found = search(coll, q, limit=10, candidates=1000)
        assert [d["_id"] for d in found] == exact
        for d in found:
            assert d["score"] == pytest.approx(expected_score(similarity, docs[d["_id"]], q), rel=1e-5, abs=1e-6)
        filtered = search(coll, q, limit=5, candidates=1000, filter={"tenant": "t4"})
        assert [d["_id"] for d in filtered] == [i for i in exact_ids(docs, similarity, q) if i % 10 == 4][:5]
    # Writes are followed: a new document equal to the query is found first with a perfect score.
    q = vectors(1, 12)[0]
    coll.insert_one({"_id": "new", "tenant": "t0", "embedding": q})
    docs["new"] = q
    [top] = search(coll, q, limit=1, candidates=1000)
    assert top["_id"] == exact_ids(docs, similarity, q)[0]
    if similarity != "dotProduct":  # (a longer vector can beat the query itself on dot product)
        assert top["_id"] == "new" and top["score"] == pytest.approx(1.0)
    coll.delete_one({"_id": "new"})
    assert all(d["_id"] != "new" for d in search(coll, q, limit=5, candidates=200))
    explained = coll.database.command("explain", {"aggregate": coll.name, "pipeline": [{"$vectorSearch": {
        "index": "vec", "path": "embedding", "queryVector": q, "numCandidates": 50, "limit": 5}}], "cursor": {}})
    assert explained["stages"][0]["$vectorSearch"]["explain"]["quantization"] == quantization


def exact_ids(docs, similarity, q):
    return sorted(docs, key=lambda i: -expected_score(similarity, docs[i], q))


def test_search_index_survives_a_restart(folio_binary, tmp_path):
    from conftest import running_server
    import pymongo
    data = str(tmp_path / "data")
    docs = vectors(300, 5)
    with running_server(folio_binary, data=data) as server:
        c = pymongo.MongoClient(f"mongodb://127.0.0.1:{server['port']}/?directConnection=true").db.m
        c.insert_many([{"_id": i, "embedding": v} for i, v in enumerate(docs)])
        create(c, filters=())
        c.insert_one({"_id": "late", "embedding": [0.9] * DIMS})
        before = search(c, docs[42], limit=5)
    with running_server(folio_binary, data=data) as server:
        c = pymongo.MongoClient(f"mongodb://127.0.0.1:{server['port']}/?directConnection=true").db.m
        assert list(c.list_search_indexes())[0]["name"] == "vec"
        assert search(c, docs[42], limit=5) == before
        assert search(c, [0.9] * DIMS, limit=1)[0]["_id"] == "late"
