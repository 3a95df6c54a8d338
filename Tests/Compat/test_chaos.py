"""Chaos: thousands of hostile commands (the command fuzzer's generator, `folio hostile-commands`)
sent through pymongo to a real server, which must answer each one, stay up, and keep every
collection valid. Replay a run with FOLIO_CHAOS_SEED=<seed>; FOLIO_CHAOS_COMMANDS sets the budget."""
import os
import random
import subprocess
import time

import bson
import pymongo
from pymongo.errors import OperationFailure

from conftest import running_server

COMMANDS = int(os.environ.get("FOLIO_CHAOS_COMMANDS", "5000"))
FIXED_SEED = 20261202


def generated(folio_binary, *args):
    out = subprocess.run([str(folio_binary), "hostile-commands", *args], check=True, capture_output=True).stdout
    return bson.decode_all(out, codec_options=bson.CodecOptions(document_class=bson.SON, datetime_conversion=bson.DatetimeConversion.DATETIME_AUTO))


def send(client, command):
    """Runs one command as a driver would; an error reply is an answer too. Returns the reply."""
    command = bson.SON(command)
    db = command.pop("$db", "fuzz")
    try:
        return client[db].command(command)
    except OperationFailure as e:
        assert isinstance(e.code, int), f"error without a code for {command}: {e.details}"
        return e.details
    except bson.errors.InvalidBSON as e:
        # A reply pymongo cannot decode was still a reply.
        return {"undecodable": str(e)}
    except (TypeError, ValueError, bson.errors.InvalidDocument) as e:
        # pymongo refuses to send it (say, an insert whose documents are not documents): the
        # server never sees it.
        return {"unsent": str(e)}


def drain(client, reply, db_name):
    """Follows a cursor with getMore, as the sandbox does (stages run lazily)."""
    cursor = reply.get("cursor") if isinstance(reply, dict) else None
    if not isinstance(cursor, dict) or not cursor.get("id"):
        return
    db, _, collection = cursor["ns"].partition(".")
    cursor_id = cursor["id"]
    for _ in range(16):
        more = send(client, bson.SON([("getMore", cursor_id), ("collection", collection), ("batchSize", 7), ("$db", db)]))
        cursor_id = (more.get("cursor") or {}).get("id", 0) if isinstance(more, dict) else 0
        if not cursor_id:
            return
    send(client, bson.SON([("killCursors", collection), ("cursors", [cursor_id]), ("$db", db)]))


def run_chaos(folio_binary, seed):
    print(f"\nchaos seed {seed} ({COMMANDS} commands); replay with FOLIO_CHAOS_SEED={seed}")
    with running_server(folio_binary) as s:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{s['port']}/?directConnection=true",
                                     serverSelectionTimeoutMS=10000, socketTimeoutMS=60000, retryWrites=False,
                                     datetime_conversion="DATETIME_AUTO")
        try:
            for command in generated(folio_binary, "--setup"):
                reply = send(client, command)
                assert reply.get("ok") == 1.0, f"setup failed: {command} -> {reply}"
            started = time.monotonic()
            unsent = 0
            for i, command in enumerate(generated(folio_binary, "--seed", str(seed), "--count", str(COMMANDS))):
                reply = send(client, command)
                assert s["process"].poll() is None, f"the server died on command {i}: {command}"
                unsent += "unsent" in reply
                assert "ok" in reply or "undecodable" in reply or "unsent" in reply, f"command {i}: {command} -> {reply}"
                drain(client, reply, command.get("$db", "fuzz"))
            elapsed = time.monotonic() - started
            # The generated commands may have set a quota on fuzz (one operation per second, say):
            # lift it, or the checks below are throttled and answered 449.
            lifted = send(client, bson.SON([("setDatabaseQuota", "fuzz"), ("maxStorageBytes", 0), ("maxDocuments", 0),
                                            ("maxConnectionsPerUser", 0), ("maxOperationsPerSecond", 0), ("$db", "admin")]))
            assert lifted.get("ok") == 1.0, f"cannot lift the quota: {lifted}"
            assert client.admin.command("ping")["ok"] == 1.0
            # Views have no data of their own to validate. (nameOnly: options may hold values,
            # dates past year 9999 among them, that pymongo's listCollections cannot decode.)
            names = [c["name"] for c in client.fuzz.list_collections(filter={"type": "collection"}, nameOnly=True)]
            assert names, "the seed collections are gone"
            for name in names:
                result = client.fuzz.command("validate", name)
                assert result["valid"] is True, f"{name} does not validate: {result}"
            print(f"chaos seed {seed}: {COMMANDS} commands in {elapsed:.1f} s ({unsent} refused by pymongo before "
                  f"sending), {len(names)} collections valid")
        finally:
            client.close()
        assert s["process"].poll() is None


def test_chaos_fixed_seed(folio_binary):
    run_chaos(folio_binary, int(os.environ.get("FOLIO_CHAOS_SEED", FIXED_SEED)))


def test_chaos_random_seed(folio_binary):
    run_chaos(folio_binary, random.SystemRandom().randrange(1, 2**63))
