"""Access control (`folio serve --auth`) through pymongo: SCRAM-SHA-256 and SCRAM-SHA-1, the
localhost exception, users and built-in roles, tenant isolation and cursor ownership."""

import pymongo
import pytest
from pymongo.errors import OperationFailure

from conftest import running_server


@pytest.fixture(scope="module")
def auth_server(folio_binary):
    with running_server(folio_binary, "--auth") as s:
        # The localhost exception: the first user, created from loopback without credentials.
        bare = pymongo.MongoClient(port=s["port"])
        bare.admin.command("createUser", "root", pwd="root-secret", roles=["root"])
        bare.close()
        yield s


def client(server, user="root", password="root-secret", source="admin", **kw):
    return pymongo.MongoClient(port=server["port"], username=user, password=password, authSource=source, **kw)


def code_of(call):
    with pytest.raises(OperationFailure) as e:
        call()
    return e.value.code, e.value.details.get("errmsg", "")


def test_localhost_exception_closes_after_the_first_user(auth_server):
    bare = pymongo.MongoClient(port=auth_server["port"])
    code, message = code_of(lambda: bare.app.items.find_one())
    assert (code, message) == (13, "command find requires authentication")
    code, _ = code_of(lambda: bare.admin.command("createUser", "second", pwd="x", roles=["root"]))
    assert code == 13
    # The handshake and authentication need no user.
    assert bare.admin.command("ping")["ok"] == 1.0
    assert bare.admin.command("connectionStatus")["authInfo"] == {"authenticatedUsers": [], "authenticatedUserRoles": []}


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1", None])
def test_each_scram_mechanism_authenticates(auth_server, mechanism):
    extra = {"authMechanism": mechanism} if mechanism else {}
    c = client(auth_server, **extra)
    c.app.scram.insert_one({"mechanism": mechanism or "default"})
    status = c.admin.command("connectionStatus")["authInfo"]
    assert status["authenticatedUsers"] == [{"user": "root", "db": "admin"}]
    assert status["authenticatedUserRoles"] == [{"role": "root", "db": "admin"}]


def test_wrong_password_and_unknown_user_fail_alike(auth_server):
    for user, password in [("root", "wrong"), ("nobody", "wrong")]:
        for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-1"]:
            c = client(auth_server, user, password, authMechanism=mechanism)
            code, message = code_of(lambda: c.app.items.find_one())
            assert (code, message) == (18, "Authentication failed.")


def test_hello_offers_the_users_mechanisms(auth_server):
    bare = pymongo.MongoClient(port=auth_server["port"])
    assert bare.admin.command("hello", saslSupportedMechs="admin.root")["saslSupportedMechs"] == ["SCRAM-SHA-1", "SCRAM-SHA-256"]
    assert "saslSupportedMechs" not in bare.admin.command("hello", saslSupportedMechs="admin.nobody")


def test_users_and_passwords_are_managed_as_mongodb_does(auth_server):
    root = client(auth_server)
    root.people.command("createUser", "ann", pwd="first", roles=["read"], customData={"team": "a"})
    info = root.people.command("usersInfo", "ann")["users"][0]
    assert list(info) == ["_id", "userId", "user", "db", "customData", "roles", "mechanisms"]
    assert info["_id"] == "people.ann" and info["roles"] == [{"role": "read", "db": "people"}]
    assert "credentials" not in info
    stored = root.admin["system.users"].find_one({"_id": "people.ann"})
    assert set(stored["credentials"]) == {"SCRAM-SHA-1", "SCRAM-SHA-256"}
    assert stored["credentials"]["SCRAM-SHA-256"]["iterationCount"] == 15000
    assert stored["credentials"]["SCRAM-SHA-1"]["iterationCount"] == 10000
    assert "first" not in str(stored)

    assert code_of(lambda: root.people.command("createUser", "ann", pwd="x", roles=[]))[0] == 51003
    assert code_of(lambda: root.people.command("createUser", "bob", pwd="x", roles=["nope"]))[0] == 31
    assert code_of(lambda: root.people.command("createUser", "bob", pwd="", roles=[]))[0] == 2

    ann = client(auth_server, "ann", "first", "people")
    assert ann.people.items.find_one() is None
    root.people.command("updateUser", "ann", pwd="second")
    assert code_of(lambda: client(auth_server, "ann", "first", "people").people.items.find_one())[0] == 18
    assert client(auth_server, "ann", "second", "people").people.items.find_one() is None

    # Role changes reach connections already authenticated.
    assert code_of(lambda: ann.people.items.insert_one({}))[0] == 13
    root.people.command("grantRolesToUser", "ann", roles=["readWrite"])
    ann.people.items.insert_one({"by": "ann"})
    root.people.command("revokeRolesFromUser", "ann", roles=["readWrite"])
    assert code_of(lambda: ann.people.items.insert_one({}))[0] == 13

    root.people.command("dropUser", "ann")
    assert code_of(lambda: ann.people.items.find_one())[0] == 13
    assert code_of(lambda: root.people.command("dropUser", "ann")) == (11, 'Could not find user "ann" for db "people"')


# Each built-in role against the commands it must allow and refuse (MongoDB's documented
# built-in roles); the user is defined on "tenant".
ROLE_TABLE = [
    # role, command, allowed
    ("read", lambda db: db.items.find_one(), True),
    ("read", lambda db: db.list_collection_names(), True),
    ("read", lambda db: db.command("dbStats"), True),
    ("read", lambda db: db.items.insert_one({}), False),
    ("read", lambda db: db.items.create_index("k"), False),
    ("read", lambda db: db.command("usersInfo"), False),
    ("readWrite", lambda db: db.items.insert_one({}), True),
    ("readWrite", lambda db: db.items.update_one({}, {"$set": {"u": 1}}), True),
    ("readWrite", lambda db: db.items.delete_many({"never": 1}), True),
    ("readWrite", lambda db: db.items.create_index("k"), True),
    ("readWrite", lambda db: db.command("collMod", "items"), False),
    ("readWrite", lambda db: db.client.drop_database(db.name), False),
    ("dbAdmin", lambda db: db.command("collMod", "items"), True),
    ("dbAdmin", lambda db: db.items.find_one(), False),
    ("dbAdmin", lambda db: db.command("dbStats"), True),
    ("userAdmin", lambda db: db.command("usersInfo"), True),
    ("userAdmin", lambda db: db.items.find_one(), False),
    ("dbOwner", lambda db: db.items.insert_one({}), True),
    ("dbOwner", lambda db: db.command("usersInfo"), True),
    ("dbOwner", lambda db: db.client.admin.command("serverStatus"), False),
]


@pytest.mark.parametrize("role,call,allowed", ROLE_TABLE)
def test_built_in_roles_allow_exactly_their_commands(auth_server, role, call, allowed):
    root = client(auth_server)
    root.tenant.items.insert_one({"seed": 1})
    name = f"user_{role}"
    if not root.tenant.command("usersInfo", name)["users"]:
        root.tenant.command("createUser", name, pwd="pw", roles=[role])
    db = client(auth_server, name, "pw", "tenant").tenant
    if allowed:
        call(db)
    else:
        code, message = code_of(lambda: call(db))
        assert code == 13 and message.startswith("not authorized on ")


@pytest.mark.parametrize("role,call,allowed", [
    ("clusterMonitor", lambda c: c.admin.command("serverStatus"), True),
    ("clusterMonitor", lambda c: c.tenant.items.find_one(), False),
    ("readAnyDatabase", lambda c: c.tenant.items.find_one(), True),
    ("readAnyDatabase", lambda c: c.tenant.items.insert_one({}), False),
    ("readWriteAnyDatabase", lambda c: c.tenant.items.insert_one({}), True),
    ("readWriteAnyDatabase", lambda c: c.admin.command("serverStatus"), False),
    ("hostManager", lambda c: c.admin.command("setParameter", 1, cursorTimeoutMillis=600000), True),
    ("hostManager", lambda c: c.tenant.items.find_one(), False),
])
def test_admin_roles(auth_server, role, call, allowed):
    root = client(auth_server)
    name = f"admin_{role}"
    if not root.admin.command("usersInfo", name)["users"]:
        root.admin.command("createUser", name, pwd="pw", roles=[role])
    c = client(auth_server, name, "pw", "admin")
    if allowed:
        call(c)
    else:
        assert code_of(lambda: call(c))[0] == 13


def test_tenants_are_isolated(auth_server):
    root = client(auth_server)
    for tenant in ["tenantA", "tenantB"]:
        if not root[tenant].command("usersInfo", "app")["users"]:
            root[tenant].command("createUser", "app", pwd=f"pw-{tenant}", roles=["readWrite"])
        root[tenant].messages.insert_many([{"tenant": tenant, "i": i} for i in range(5)])
    a = client(auth_server, "app", "pw-tenantA", "tenantA")
    assert a.list_database_names() == ["tenantA"]
    assert a.tenantA.messages.count_documents({}) >= 5
    refused = [
        lambda: a.tenantB.messages.find_one(),
        lambda: a.tenantB.list_collection_names(),
        lambda: a.tenantB.messages.insert_one({}),
        lambda: a.tenantB.watch(),
        lambda: a.tenantB.command("dbStats"),
        lambda: a.tenantB.command("usersInfo"),
        lambda: a.drop_database("tenantB"),
        lambda: list(a.tenantA.messages.aggregate([{"$lookup": {"from": {"db": "tenantB", "coll": "messages"},
                                                                "pipeline": [], "as": "x"}}])),
        lambda: list(a.tenantA.messages.aggregate([{"$unionWith": {"coll": "messages", "pipeline": []}},
                                                   {"$out": {"db": "tenantB", "coll": "copied"}}])),
        lambda: a.admin.command("listDatabases", authorizedDatabases=False),
        lambda: a.tenantB.messages.count_documents({}),
        lambda: a.tenantB.messages.estimated_document_count(),
        lambda: a.tenantB.messages.distinct("i"),
        lambda: list(a.tenantB.messages.aggregate([{"$match": {}}])),
        lambda: a.tenantB.messages.find_one_and_update({}, {"$set": {"x": 1}}),
        lambda: a.tenantB.messages.update_many({}, {"$set": {"x": 1}}),
        lambda: a.tenantB.messages.delete_many({}),
        lambda: a.tenantB.messages.create_index("i"),
        lambda: a.tenantB.messages.drop_indexes(),
        lambda: a.tenantB.command("collStats", "messages"),
        lambda: a.tenantB.command("explain", {"find": "messages"}),
        lambda: a.tenantB.command("listIndexes", "messages"),
        lambda: a.tenantB.command("create", "intruder"),
        lambda: a.tenantB.messages.drop(),
        lambda: a.admin.command("renameCollection", "tenantB.messages", to="tenantA.stolen"),
        lambda: a.tenantA.command("create", "peek", viewOn="messages",
                                  pipeline=[{"$lookup": {"from": {"db": "tenantB", "coll": "messages"}, "pipeline": [], "as": "x"}}]),
        lambda: a.local["oplog.rs"].find_one(),
        lambda: a.admin.command("bulkWrite", 1, ops=[{"insert": 0, "document": {}}], nsInfo=[{"ns": "tenantB.messages"}]),
    ]
    for call in refused:
        assert code_of(call)[0] == 13
    assert root.tenantB.copied.count_documents({}) == 0
    assert root.tenantB.messages.count_documents({}) >= 5 and "intruder" not in root.tenantB.list_collection_names()


def test_cursors_belong_to_their_user(auth_server):
    root = client(auth_server)
    root.shared.items.insert_many([{"i": i} for i in range(10)])
    for name in ["one", "two"]:
        if not root.shared.command("usersInfo", name)["users"]:
            root.shared.command("createUser", name, pwd="pw", roles=["read"])
    one = client(auth_server, "one", "pw", "shared")
    two = client(auth_server, "two", "pw", "shared")
    cursor_id = one.shared.command("find", "items", batchSize=2)["cursor"]["id"]
    code, message = code_of(lambda: two.shared.command("getMore", cursor_id, collection="items"))
    assert code == 13 and "not created by the authenticated user" in message
    assert code_of(lambda: two.shared.command("killCursors", "items", cursors=[cursor_id]))[0] == 13
    assert len(one.shared.command("getMore", cursor_id, collection="items")["cursor"]["nextBatch"]) == 8


def test_malformed_sasl_conversations_get_errors(auth_server):
    bare = pymongo.MongoClient(port=auth_server["port"])
    cases = [
        ({"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"\xff\x00"}, 2),
        ({"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"p=tls-unique,,n=root,r=abc"}, 2),
        ({"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"n,,n=root"}, 2),
        ({"saslStart": 1, "mechanism": "PLAIN", "payload": b"\x00root\x00pw"}, 334),
        ({"saslContinue": 1, "conversationId": 1, "payload": b"c=biws,r=x,p=AAAA"}, 17),
    ]
    for command, code in cases:
        assert code_of(lambda: bare.admin.command(command))[0] == code
    # A conversation whose final message carries the wrong nonce fails, and a replayed final
    # message (the conversation is gone) gets no second chance.
    start = bare.admin.command("saslStart", mechanism="SCRAM-SHA-256", payload=b"n,,n=root,r=clientnonce")
    assert start["done"] is False and start["payload"].startswith(b"r=clientnonce")
    final = b"c=biws,r=clientnonceWRONG,p=" + b"A" * 43 + b"="
    assert code_of(lambda: bare.admin.command("saslContinue", conversationId=1, payload=final))[0] == 18
    assert code_of(lambda: bare.admin.command("saslContinue", conversationId=1, payload=final))[0] == 17
    assert bare.admin.command("ping")["ok"] == 1.0


def test_user_defined_roles_grant_exactly_their_privileges(auth_server):
    root = client(auth_server)
    root.chat.messages.insert_one({"text": "hi"})
    root.chat.secrets.insert_one({"key": 1})
    if root.chat.command("rolesInfo", "messageReader")["roles"]:
        root.chat.command("dropRole", "messageReader")
    root.chat.command("createRole", "messageReader", roles=[],
                      privileges=[{"resource": {"db": "chat", "collection": "messages"}, "actions": ["find"]}])
    if not root.chat.command("usersInfo", "bot")["users"]:
        root.chat.command("createUser", "bot", pwd="pw", roles=["messageReader"])
    bot = client(auth_server, "bot", "pw", "chat")
    assert bot.chat.messages.find_one({}, {"_id": 0}) == {"text": "hi"}
    assert code_of(lambda: bot.chat.secrets.find_one())[0] == 13
    assert code_of(lambda: bot.chat.messages.insert_one({}))[0] == 13
    # authorizedCollections lists what the role names.
    assert bot.chat.list_collection_names(authorizedCollections=True) == ["messages"]
    root.chat.command("grantPrivilegesToRole", "messageReader",
                      privileges=[{"resource": {"db": "chat", "collection": "messages"}, "actions": ["insert"]}])
    bot.chat.messages.insert_one({"text": "from bot"})
    info = root.chat.command("rolesInfo", "messageReader", showPrivileges=True)["roles"][0]
    assert info["privileges"] == [{"resource": {"db": "chat", "collection": "messages"}, "actions": ["find", "insert"]}]
    assert code_of(lambda: root.chat.command("grantRolesToRole", "messageReader", roles=["messageReader"]))[0] == 49


def test_a_flood_of_failed_logins_is_logged_and_others_are_served(auth_server):
    """Hundreds of wrong passwords from one client in a row: each is refused and logged, and
    another client's commands are answered meanwhile."""
    import threading
    import socket
    import struct
    import bson

    stop = threading.Event()
    failures = []

    def flood():
        # Raw saslStart/saslContinue on one socket, as fast as the server answers.
        sock = socket.create_connection(("127.0.0.1", auth_server["port"]))
        request = 0

        def call(command):
            nonlocal request
            request += 1
            body = b"\x00\x00\x00\x00" + b"\x00" + bson.encode(command)
            sock.sendall(struct.pack("<iiii", 16 + len(body), request, 0, 2013) + body)
            header = sock.recv(16, socket.MSG_WAITALL)
            length = struct.unpack("<i", header[:4])[0]
            reply = sock.recv(length - 16, socket.MSG_WAITALL)
            return bson.decode(reply[5:])

        while not stop.is_set() and len(failures) < 500:
            start = call({"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"n,,n=root,r=floodnonce", "$db": "admin"})
            nonce = start["payload"].split(b",")[0][2:]
            final = call({"saslContinue": 1, "conversationId": 1, "$db": "admin",
                          "payload": b"c=biws,r=" + nonce + b",p=" + b"A" * 43 + b"="})
            failures.append(final.get("code"))
        sock.close()

    thread = threading.Thread(target=flood)
    thread.start()
    other = client(auth_server)
    answered = 0
    while thread.is_alive():
        assert other.admin.command("ping")["ok"] == 1.0
        answered += 1
    thread.join()
    assert len(failures) == 500 and set(failures) == {18}
    assert answered > 0
    log = other.admin.command("getLog", "global")["log"]
    assert sum('"Authentication failed"' in line for line in log) >= 100


def scram_sha256_final(password, client_first_bare, server_first):
    """A driver's client-final message for SCRAM-SHA-256 (RFC 5802/7677)."""
    import base64
    import hashlib
    import hmac
    fields = dict(part.split("=", 1) for part in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def test_a_replayed_client_proof_is_refused(auth_server):
    """A client-final message that succeeded once does not authenticate a second conversation
    (its server nonce is new, so the old proof no longer matches)."""
    bare = pymongo.MongoClient(port=auth_server["port"])
    first_bare = "n=root,r=replaynonce"
    start = bare.admin.command("saslStart", mechanism="SCRAM-SHA-256", payload=f"n,,{first_bare}".encode(),
                               options={"skipEmptyExchange": True})
    final = scram_sha256_final("root-secret", first_bare, start["payload"].decode())
    done = bare.admin.command("saslContinue", conversationId=start["conversationId"], payload=final)
    assert done["done"] is True and done["payload"].startswith(b"v=")

    other = pymongo.MongoClient(port=auth_server["port"])
    start2 = other.admin.command("saslStart", mechanism="SCRAM-SHA-256", payload=f"n,,{first_bare}".encode())
    assert start2["payload"] != start["payload"]
    assert code_of(lambda: other.admin.command("saslContinue", conversationId=1, payload=final))[0] == 18


def test_own_operations_only_without_inprog(folio_binary):
    """currentOp with $ownOps and $currentOp without allUsers list only the caller's own
    operations: another tenant's running command stays hidden."""
    import threading
    import time
    with running_server(folio_binary, "--auth", "--enable-test-commands") as s:
        bare = pymongo.MongoClient(port=s["port"])
        bare.admin.command("createUser", "root", pwd="pw", roles=["root"])
        root = client(s, "root", "pw")
        for tenant in ["tenantA", "tenantB"]:
            root[tenant].command("createUser", "app", pwd="pw", roles=["readWrite"])
            root[tenant].items.insert_one({"x": 1})
        root.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                           data={"failCommands": ["find"], "blockConnection": True, "blockTimeMS": 1500, "appName": "slowB"})
        b = client(s, "app", "pw", "tenantB", appName="slowB")
        a = client(s, "app", "pw", "tenantA")
        slow = threading.Thread(target=lambda: b.tenantB.items.find_one())
        slow.start()
        time.sleep(0.5)
        seen_by_root = [op.get("ns") for op in root.admin.command("currentOp")["inprog"]]
        own = [op.get("ns") for op in a.admin.command("currentOp", **{"$ownOps": True})["inprog"]]
        stage = [op.get("ns") for op in a.admin.aggregate([{"$currentOp": {}}])]
        slow.join()
        assert "tenantB.items" in seen_by_root
        assert "tenantB.items" not in own and "tenantB.items" not in stage
        assert code_of(lambda: a.admin.command("currentOp"))[0] == 13
        assert code_of(lambda: list(a.admin.aggregate([{"$currentOp": {"allUsers": True}}])))[0] == 13
