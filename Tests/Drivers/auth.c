/* libmongoc against `folio serve --auth` (a root user already created by auth.js): SCRAM-SHA-256
 * and SCRAM-SHA-1 logins, then a wrong password refused (the server answers 18 "Authentication failed.").
 * Usage: auth <port>. Exits non-zero on the first mismatch. */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, what) do { if (!(cond)) { fprintf(stderr, "libmongoc auth test failed: %s (%s)\n", what, error.message); exit(1); } } while (0)

static int ping(const char *port, const char *password, const char *mechanism, bson_error_t *error) {
    char uri[512];
    snprintf(uri, sizeof uri, "mongodb://root:%s@127.0.0.1:%s/?directConnection=true&authSource=admin&authMechanism=%s",
             password, port, mechanism);
    mongoc_client_t *client = mongoc_client_new(uri);
    bson_t *command = BCON_NEW("count", BCON_UTF8("c"));
    bool ok = mongoc_client_command_simple(client, "app", command, NULL, NULL, error);
    bson_destroy(command);
    mongoc_client_destroy(client);
    return ok;
}

int main(int argc, char **argv) {
    bson_error_t error = {0};
    const char *port = argc > 1 ? argv[1] : "27017";
    mongoc_init();
    CHECK(ping(port, "node-secret", "SCRAM-SHA-256", &error), "SCRAM-SHA-256");
    CHECK(ping(port, "node-secret", "SCRAM-SHA-1", &error), "SCRAM-SHA-1");
    CHECK(!ping(port, "wrong", "SCRAM-SHA-256", &error) && strstr(error.message, "Authentication failed"), "a wrong password fails");
    mongoc_cleanup();
    printf("libmongoc auth: ok\n");
    return 0;
}
