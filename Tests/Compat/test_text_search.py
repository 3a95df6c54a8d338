"""Text indexes and $text through pymongo: MongoDB's index shape, ranked results with exact
scores, stemming, case, diacritics, stop words, phrases, negations, and the error codes.

Expected scores follow MongoDB's formula (FTSSpec::_scoreStringV2) worked out from the
tokens written next to each document: for a term seen `count` times in a field of `tokens`
non-stop-word tokens, weight × (1 + 1/2 + 1/4 + ...) × (0.5 × count / tokens + 0.5),
× 1.1 when the term is the whole field; a document's score sums its fields in document
order, and a query's sums its terms."""
import pymongo
import pytest
from pymongo.errors import OperationFailure


def term(weight, count, tokens, whole_field=False):
    freq = sum(1 / 2 ** i for i in range(count))
    coeff = (0.5 * count / tokens) + 0.5
    return weight * freq * coeff * (1.1 if whole_field else 1)


@pytest.fixture()
def products(db):
    db.products.insert_many([
        # name: [tea] (the whole field); description: green, tea, leav
        {"_id": 1, "name": "Tea", "description": "green tea leaves", "status": "A"},
        # name: [teapot]; description: teapot, tea ("a" and "for" are stop words)
        {"_id": 2, "name": "Teapot", "description": "a teapot for tea", "status": "A"},
        # description: mug, coffe, tea
        {"_id": 3, "name": "Coffee mug", "description": "mug for coffee or tea", "status": "D"},
        # description: boil, water
        {"_id": 4, "name": "Kettle", "description": "boils water", "status": "A"},
        # description: tea, tea, time
        {"_id": 5, "name": "Chai", "description": "tea tea time", "status": "A"},
        {"_id": 6, "name": "Café", "description": "crème brûlée", "status": "A"},
    ])
    db.products.create_index([("name", "text"), ("description", "text")], weights={"name": 5})
    return db.products


def scored(cursor):
    return [(d["_id"], d["score"]) for d in cursor]


def test_the_index_lists_as_mongodb_shows_it(products):
    index = products.index_information()["name_text_description_text"]
    assert index == {"v": 2, "key": [("_fts", "text"), ("_ftsx", 1)], "weights": {"description": 1, "name": 5},
                     "default_language": "english", "language_override": "language", "textIndexVersion": 3}
    listed = [i for i in products.list_indexes() if i["name"] == "name_text_description_text"][0]
    assert list(listed.keys()) == ["v", "key", "name", "weights", "default_language", "language_override", "textIndexVersion"]
    assert type(listed["weights"]["name"]) is int and type(listed["textIndexVersion"]) is int


def test_ranked_search_with_a_filter_projects_and_sorts_exact_scores(products):
    cursor = products.find({"$text": {"$search": "tea"}, "status": "A"}, {"score": {"$meta": "textScore"}, "name": 1})
    results = list(cursor.sort([("score", {"$meta": "textScore"})]))
    assert [list(d.keys()) for d in results][0] == ["_id", "name", "score"]
    assert scored(results) == [
        (1, term(5, 1, 1, whole_field=True) + term(1, 1, 3)),
        (5, term(1, 2, 3)),
        (2, term(1, 1, 2)),
    ]
    assert type(results[0]["score"]) is float
    # Several terms: each document's scores add up.
    both = products.find({"$text": {"$search": "tea water"}}, {"score": {"$meta": "textScore"}}).sort(
        [("score", {"$meta": "textScore"})])
    assert scored(both) == [(1, term(5, 1, 1, True) + term(1, 1, 3)), (5, term(1, 2, 3)), (2, term(1, 1, 2)),
                            (4, term(1, 1, 2)), (3, term(1, 1, 3))]


def test_without_the_score_documents_come_as_stored(products):
    assert products.find_one({"$text": {"$search": "kettle"}}) == {
        "_id": 4, "name": "Kettle", "description": "boils water", "status": "A"}


def test_stemming_case_stop_words_and_diacritics(products):
    def ids(search, **options):
        return sorted(d["_id"] for d in products.find({"$text": {"$search": search, **options}}))
    assert ids("teas") == [1, 2, 3, 5]           # stemmed like the index
    assert ids("TEA") == [1, 2, 3, 5]            # case folded
    assert ids("the and of") == []              # stop words only
    assert ids("cafe") == [6] and ids("creme") == [6]
    assert ids("cafe", **{"$diacriticSensitive": True}) == []
    assert ids("Café", **{"$diacriticSensitive": True}) == [6]
    assert ids("Tea", **{"$caseSensitive": True}) == [1]
    assert ids("tea", **{"$language": "none"}) == [1, 2, 3, 5]


def test_phrases_and_negations(products):
    def ids(search):
        return sorted(d["_id"] for d in products.find({"$text": {"$search": search}}))
    assert ids('"green tea"') == [1]
    assert ids('tea "teapot for"') == [2]
    assert ids("tea -teapot") == [1, 3, 5]
    assert ids("-tea") == []                     # negations alone find nothing


def test_counts_aggregation_and_updates_use_the_index(products):
    assert products.count_documents({"$text": {"$search": "tea"}}) == 4
    pipeline = [{"$match": {"$text": {"$search": "tea"}, "status": "A"}},
                {"$sort": {"s": {"$meta": "textScore"}}},
                {"$project": {"_id": 1, "s": {"$meta": "textScore"}}}]
    assert [(d["_id"], d["s"]) for d in products.aggregate(pipeline)] == [
        (1, term(5, 1, 1, True) + term(1, 1, 3)), (5, term(1, 2, 3)), (2, term(1, 1, 2))]
    products.update_one({"_id": 4}, {"$set": {"description": "boils water for tea"}})
    assert products.count_documents({"$text": {"$search": "tea"}}) == 5
    products.delete_many({"$text": {"$search": "teapot"}})
    assert sorted(d["_id"] for d in products.find({"$text": {"$search": "tea"}})) == [1, 3, 4, 5]


def test_explain_shows_text_match_over_text_or_over_index_scans(products):
    plan = products.find({"$text": {"$search": "tea"}}).explain()["queryPlanner"]["winningPlan"]
    assert plan["stage"] == "TEXT_MATCH" and plan["indexName"] == "name_text_description_text"
    assert plan["inputStage"]["stage"] == "TEXT_OR"
    assert plan["inputStage"]["inputStage"]["stage"] == "IXSCAN"


def test_compound_text_index_needs_its_equality_prefix(db):
    db.messages.create_index([("tenant", 1), ("body", "text")])
    db.messages.insert_many([{"tenant": "a", "body": "hello world"}, {"tenant": "b", "body": "hello there"}])
    assert [d["tenant"] for d in db.messages.find({"tenant": "b", "$text": {"$search": "hello"}})] == ["b"]
    with pytest.raises(OperationFailure) as e:
        list(db.messages.find({"$text": {"$search": "hello"}}))
    assert (e.value.code, e.value.details["codeName"]) == (291, "NoQueryExecutionPlans")


def test_errors_as_mongodb_answers_them(products, db):
    db.plain.insert_one({"a": "tea"})
    cases = [
        (lambda: list(db.plain.find({"$text": {"$search": "tea"}})), 27, "IndexNotFound"),
        (lambda: products.create_index([("other", "text")], name="other_text"), 85, "IndexOptionsConflict"),
        (lambda: list(products.aggregate([{"$limit": 1}, {"$match": {"$text": {"$search": "tea"}}}])), 17313, "Location17313"),
        (lambda: list(products.find({}, sort=[("s", {"$meta": "textScore"})])), 40218, "Location40218"),
        (lambda: list(products.find({"$nor": [{"$text": {"$search": "tea"}}]})), 2, "BadValue"),
        (lambda: list(products.find({"$text": {"$search": "tea"}, "$and": [{"$text": {"$search": "x"}}]})), 2, "BadValue"),
        (lambda: list(products.find({"$text": {"$search": 5}})), 14, "TypeMismatch"),
        (lambda: list(products.find({"$text": {"$search": "tea", "$language": "klingon"}})), 2, "BadValue"),
    ]
    for call, code, name in cases:
        with pytest.raises(OperationFailure) as e:
            call()
        assert (e.value.code, e.value.details["codeName"]) == (code, name), e.value.details


def test_languages_by_index_document_and_query(db):
    # The index's default language is Spanish; a document's "idioma" field overrides it.
    db.articles.create_index([("body", "text")], default_language="spanish", language_override="idioma")
    db.articles.insert_many([
        {"_id": 1, "body": "las tazas de té"},                    # Spanish: taz, te ("las", "de" are stop words)
        {"_id": 2, "body": "the cups of tea", "idioma": "english"},  # English: cup, tea
        {"_id": 3, "body": "the cups of tea", "idioma": "none"},     # none: the, cups, of, tea as written
    ])
    def ids(search, **options):
        return sorted(d["_id"] for d in db.articles.find({"$text": {"$search": search, **options}}))
    assert ids("taza") == [1]
    # Two tokens count towards the field's length: Spanish leaves out "las" and "de".
    assert [d["s"] for d in db.articles.find({"$text": {"$search": "taza"}}, {"s": {"$meta": "textScore"}})] == [term(1, 1, 2)]
    assert ids("té") == [1]                                      # not a stop word; folded to te after
    assert ids("te") == []                                       # a Spanish stop word: no terms at all
    assert ids("cups", **{"$language": "english"}) == [2]        # English stem "cup"
    assert ids("cups") == [3]                                    # Spanish leaves "cups" as is
    assert ids("the", **{"$language": "none"}) == [3]            # a stop word only where there are none
    with pytest.raises(OperationFailure) as e:
        db.articles.insert_one({"body": "x", "idioma": "klingon"})
    assert e.value.code == 17262


def test_a_wildcard_index_searches_every_string_field(db):
    db.notes.create_index([("$**", "text")])
    db.notes.insert_many([
        {"_id": 1, "title": "Groceries", "items": ["milk", "apples", {"name": "green tea"}]},
        {"_id": 2, "title": "Tea party", "count": 3},
        {"_id": 3, "title": "Chores", "meta": {"note": "water the plants"}},
    ])
    def scores(search):
        return [(d["_id"], d["s"]) for d in db.notes.find({"$text": {"$search": search}}, {"s": {"$meta": "textScore"}}).sort("_id")]
    # items.name: green, tea (2 tokens); title: tea, parti (2 tokens).
    assert scores("tea") == [(1, term(1, 1, 2)), (2, term(1, 1, 2))]
    # The boost needs the field to equal the stemmed term: "milk" does, "apples" (appl) does not.
    assert scores("milk") == [(1, term(1, 1, 1, whole_field=True))]
    assert scores("apple") == [(1, term(1, 1, 1))]
    assert scores("plant") == [(3, term(1, 1, 2))]


def test_text_under_or_needs_the_other_branches_indexed(products):
    """MongoDB plans `$text` inside `$or` as OR(TEXT, IXSCAN...) when every other branch has an
    index, and answers 291 otherwise; documents only the other branches find have no score."""
    query = {"$or": [{"$text": {"$search": "tea"}}, {"name": "Kettle"}]}
    with pytest.raises(OperationFailure) as e:
        list(products.find(query))
    assert (e.value.code, e.value.details["codeName"]) == (291, "NoQueryExecutionPlans")
    assert "TEXT under OR" in e.value.details["errmsg"]
    products.create_index("name")
    plain = {d["_id"]: d["score"] for d in products.find({"$text": {"$search": "tea"}}, {"score": {"$meta": "textScore"}})}
    got = {d["_id"]: d.get("score") for d in products.find(query, {"score": {"$meta": "textScore"}})}
    assert got == {**plain, 4: None}
    assert sorted(d["_id"] for d in products.find({**query, "status": "A"})) == sorted([i for i in plain if i != 3] + [4])
    plan = products.find(query).explain()["queryPlanner"]["winningPlan"]
    assert plan["stage"] == "FETCH" and plan["inputStage"]["stage"] == "OR"
    assert [s["stage"] for s in plan["inputStage"]["inputStages"]] == ["TEXT_MATCH", "IXSCAN"]
    # A `$text` nested deeper than a branch of the top `$or` cannot be planned.
    with pytest.raises(OperationFailure) as e:
        list(products.find({"$or": [{"$or": [{"$text": {"$search": "tea"}}, {"name": "x"}]}, {"name": "Kettle"}]}))
    assert e.value.code == 291
