/* libmongoc smoke test: insert, find, update, delete, aggregate against a Folio server.
 * Usage: smoke <port>. Exits non-zero on the first mismatch. */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, what) do { if (!(cond)) { fprintf(stderr, "libmongoc smoke test failed: %s (%s)\n", what, error.message); exit(1); } } while (0)

int main(int argc, char **argv) {
    bson_error_t error = {0};
    char uri[256];
    snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%s/?directConnection=true", argc > 1 ? argv[1] : "27017");
    mongoc_init();
    mongoc_client_t *client = mongoc_client_new(uri);
    CHECK(client, "client");
    mongoc_collection_t *c = mongoc_client_get_collection(client, "drivers_c", "items");
    mongoc_collection_delete_many(c, bson_new(), NULL, NULL, &error);

    for (int i = 1; i <= 3; i++) {
        bson_t *doc = BCON_NEW("_id", BCON_INT32(i), "k", BCON_UTF8(i == 2 ? "b" : "a"), "n", BCON_INT32(i));
        CHECK(mongoc_collection_insert_one(c, doc, NULL, NULL, &error), "insert");
        bson_destroy(doc);
    }
    bson_t *dup = BCON_NEW("_id", BCON_INT32(1));
    CHECK(!mongoc_collection_insert_one(c, dup, NULL, NULL, &error) && error.code == 11000, "duplicate key is 11000");
    bson_destroy(dup);

    bson_t *filter = BCON_NEW("k", BCON_UTF8("a"));
    bson_t *opts = BCON_NEW("sort", "{", "n", BCON_INT32(-1), "}");
    mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(c, filter, opts, NULL);
    const bson_t *doc;
    int seen[2], count = 0;
    bson_iter_t it;
    while (mongoc_cursor_next(cursor, &doc)) {
        CHECK(bson_iter_init_find(&it, doc, "_id") && count < 2, "find result");
        seen[count++] = bson_iter_int32(&it);
    }
    CHECK(!mongoc_cursor_error(cursor, &error), "find cursor");
    CHECK(count == 2 && seen[0] == 3 && seen[1] == 1, "find order");
    mongoc_cursor_destroy(cursor);

    bson_t *sel = BCON_NEW("_id", BCON_INT32(2));
    bson_t *update = BCON_NEW("$inc", "{", "n", BCON_INT32(10), "}");
    bson_t reply;
    CHECK(mongoc_collection_update_one(c, sel, update, NULL, &reply, &error), "update");
    CHECK(bson_iter_init_find(&it, &reply, "modifiedCount") && bson_iter_as_int64(&it) == 1, "modifiedCount");
    bson_destroy(&reply);

    bson_t *pipeline = BCON_NEW("pipeline", "[",
        "{", "$group", "{", "_id", BCON_UTF8("$k"), "total", "{", "$sum", BCON_UTF8("$n"), "}", "}", "}",
        "{", "$sort", "{", "_id", BCON_INT32(1), "}", "}", "]");
    cursor = mongoc_collection_aggregate(c, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    int totals[2];
    count = 0;
    while (mongoc_cursor_next(cursor, &doc)) {
        CHECK(bson_iter_init_find(&it, doc, "total") && count < 2, "aggregate result");
        totals[count++] = bson_iter_int32(&it);
    }
    CHECK(!mongoc_cursor_error(cursor, &error), "aggregate cursor");
    CHECK(count == 2 && totals[0] == 4 && totals[1] == 12, "aggregate totals");
    mongoc_cursor_destroy(cursor);

    CHECK(mongoc_collection_delete_many(c, filter, NULL, &reply, &error), "delete");
    CHECK(bson_iter_init_find(&it, &reply, "deletedCount") && bson_iter_as_int64(&it) == 2, "deletedCount");
    bson_destroy(&reply);
    CHECK(mongoc_collection_count_documents(c, bson_new(), NULL, NULL, NULL, &error) == 1, "countDocuments");
    CHECK(mongoc_collection_drop(c, &error), "drop");

    mongoc_collection_destroy(c);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    printf("libmongoc: insert/find/update/delete/aggregate ok\n");
    return 0;
}
