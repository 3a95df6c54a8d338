"""Wire-level behaviour a driver sees below its API: exhaust cursors and streaming hello."""
import socket
import struct

import bson
import pymongo
from pymongo import CursorType

OP_MSG = 2013
MORE_TO_COME = 1 << 1
EXHAUST_ALLOWED = 1 << 16


def send_msg(sock, request_id, body, flags=0):
    payload = struct.pack("<I", flags) + b"\x00" + bson.encode(body)
    sock.sendall(struct.pack("<iiii", 16 + len(payload), request_id, 0, OP_MSG) + payload)


def read_msg(sock):
    header = recv_exact(sock, 16)
    length, request_id, response_to, opcode = struct.unpack("<iiii", header)
    assert opcode == OP_MSG
    rest = recv_exact(sock, length - 16)
    flags = struct.unpack("<I", rest[:4])[0]
    assert rest[4] == 0
    return request_id, response_to, flags, bson.decode(rest[5:])


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out


def test_exhaust_getmore_streams_every_batch(server, db):
    db.items.insert_many([{"_id": i} for i in range(95)])
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as sock:
        send_msg(sock, 1, {"find": "items", "batchSize": 10, "sort": {"_id": 1}, "$db": db.name})
        _, response_to, flags, reply = read_msg(sock)
        assert response_to == 1 and flags == 0 and reply["ok"] == 1.0
        cursor_id = reply["cursor"]["id"]
        seen = [d["_id"] for d in reply["cursor"]["firstBatch"]]
        send_msg(sock, 2, {"getMore": cursor_id, "collection": "items", "batchSize": 10, "$db": db.name},
                 flags=EXHAUST_ALLOWED)
        expected_response_to, replies = 2, 0
        while True:
            request_id, response_to, flags, reply = read_msg(sock)
            replies += 1
            assert response_to == expected_response_to
            seen += [d["_id"] for d in reply["cursor"]["nextBatch"]]
            if reply["cursor"]["id"] == 0:
                assert flags & MORE_TO_COME == 0
                break
            assert flags & MORE_TO_COME
            expected_response_to = request_id
        assert replies == 9
        assert seen == list(range(95))
        # The connection is usable again once the stream ends.
        send_msg(sock, 3, {"ping": 1, "$db": "admin"})
        assert read_msg(sock)[3]["ok"] == 1.0


def test_getmore_without_exhaust_flag_answers_once(server, db):
    db.items.insert_many([{"_id": i} for i in range(30)])
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as sock:
        send_msg(sock, 1, {"find": "items", "batchSize": 10, "$db": db.name})
        cursor_id = read_msg(sock)[3]["cursor"]["id"]
        send_msg(sock, 2, {"getMore": cursor_id, "collection": "items", "batchSize": 10, "$db": db.name})
        _, response_to, flags, reply = read_msg(sock)
        assert response_to == 2 and flags == 0 and reply["cursor"]["id"] == cursor_id
        send_msg(sock, 3, {"ping": 1, "$db": "admin"})
        _, response_to, _, reply = read_msg(sock)
        assert response_to == 3 and reply["ok"] == 1.0


def test_pymongo_exhaust_cursor(db):
    db.items.insert_many([{"_id": i, "v": "x" * 100} for i in range(1000)])
    cursor = db.items.find({}, sort=[("_id", 1)], batch_size=7, cursor_type=CursorType.EXHAUST)
    assert [d["_id"] for d in cursor] == list(range(1000))


def test_streaming_hello_sends_replies_until_closed(server):
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as sock:
        send_msg(sock, 1, {"hello": 1, "$db": "admin"})
        _, _, _, first = read_msg(sock)
        send_msg(sock, 2, {"hello": 1, "topologyVersion": first["topologyVersion"], "maxAwaitTimeMS": 100,
                           "$db": "admin"}, flags=EXHAUST_ALLOWED)
        expected = 2
        for _ in range(3):
            request_id, response_to, flags, reply = read_msg(sock)
            assert response_to == expected and flags & MORE_TO_COME
            assert reply["isWritablePrimary"] is True and reply["topologyVersion"] == first["topologyVersion"]
            expected = request_id


def test_noop_benchmark_server_speaks_enough_for_the_driver(folio_binary):
    """The wire benchmark's floor must keep working: pymongo inserts, finds and updates."""
    import subprocess
    import time
    from conftest import free_port
    port = free_port()
    proc = subprocess.Popen([str(folio_binary), "noop-server", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=5000)
        coll = client.bench.items
        coll.insert_many([{"_id": i, "v": "x"} for i in range(250)])
        coll.insert_one({"_id": 250, "v": "x"})
        assert coll.update_one({"_id": 1}, {"$set": {"v": "y"}}).modified_count == 1
        assert coll.find_one({"_id": 1}) is not None
        assert len(list(coll.find({}))) == 251
        # aggregate answers with a cursor (the C driver rejected a reply without one).
        assert len(list(coll.aggregate([{"$match": {}}]))) == 10
        # It keeps only the first 1,000 documents of a namespace, so runs do not grow it.
        coll.insert_many([{"_id": i, "v": "x"} for i in range(251, 5_000)])
        assert len(list(coll.find({}))) == 1_000
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_messages_of_the_largest_size_while_other_connections_are_answered(server, db, client):
    """insert_many of 100,000 x 1 KB documents: pymongo sends 48 MB OP_MSG document sequences
    (each parsed in time linear in its size, off the event loops), every document lands once,
    and pings from another connection are answered while the batches are processed."""
    import threading
    pad = "x" * 1000
    answered = []
    done = threading.Event()

    def ping():
        other = pymongo.MongoClient(client.address[0], client.address[1], directConnection=True)
        while not done.is_set():
            other.admin.command("ping")
            answered.append(done.is_set())
        other.close()

    pinger = threading.Thread(target=ping)
    pinger.start()
    result = db.large.insert_many([{"_id": i, "pad": pad} for i in range(100_000)])
    done.set()
    pinger.join()
    assert len(result.inserted_ids) == 100_000
    assert db.large.count_documents({}) == 100_000
    assert db.large.find_one({"_id": 99_999})["pad"] == pad
    # Pings were answered while the insert was still running (not only after it).
    assert answered.count(False) >= 3


def test_pipelined_requests_answer_in_order_whichever_thread_runs_them(server, db):
    """Point reads and pings run on the event loop that read them, everything else on the
    connection's queue (RunsWhereItArrives.swift). Requests sent back to back without
    waiting are still answered one by one in order, and a point read sent right behind an
    insert sees it: the insert (a write, on the queue) first, then the find, the ping, a
    find on a view (on the queue), and a large message (parsed on the queue), then a find."""
    db.create_collection("pipelined")
    db.command("create", "pipelined_view", viewOn="pipelined", pipeline=[{"$match": {"k": {"$gte": 0}}}])
    requests = []
    for round_ in range(20):
        requests += [
            {"insert": "pipelined", "documents": [{"_id": round_, "k": round_}], "$db": db.name},
            {"find": "pipelined", "filter": {"_id": round_}, "limit": 1, "singleBatch": True, "$db": db.name},
            {"ping": 1, "$db": "admin"},
            {"find": "pipelined_view", "filter": {"_id": round_}, "$db": db.name},
            {"insert": "pipelined", "documents": [{"_id": f"big{round_}", "pad": "x" * 40_000}], "$db": db.name},
            {"find": "pipelined", "filter": {"_id": f"big{round_}"}, "projection": {"pad": 0}, "$db": db.name},
        ]
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=20) as sock:
        for i, body in enumerate(requests):
            send_msg(sock, 1000 + i, body)
        for i, body in enumerate(requests):
            _, response_to, _, reply = read_msg(sock)
            assert response_to == 1000 + i, (i, body, reply)
            assert reply["ok"] == 1.0, (body, reply)
            name = next(iter(body))
            if name == "find":
                assert reply["cursor"]["firstBatch"] == [
                    {"_id": body["filter"]["_id"], "k": body["filter"]["_id"]} if not str(body["filter"]["_id"]).startswith("big")
                    else {"_id": body["filter"]["_id"]}], (body, reply)
            elif name == "insert":
                assert reply["n"] == 1


def test_a_point_read_behind_a_large_reply_is_answered_after_it(server, db):
    """A reply made on the queue can still be on its way to the event loop when the next
    request, a point read, runs on the loop: the ~10 MB batch below is compressed with zlib
    after its command finished (tens of milliseconds), and the point read arrives in that
    window. Replies still go out in request order."""
    import os
    import time
    import zlib
    db.wide.insert_many([{"_id": i, "pad": os.urandom(50_000).hex()} for i in range(100)])

    def send_compressed(sock, request_id, body):
        payload = struct.pack("<I", 0) + b"\x00" + bson.encode(body)
        packed = zlib.compress(payload)
        rest = struct.pack("<iiB", OP_MSG, len(payload), 2) + packed
        sock.sendall(struct.pack("<iiii", 16 + len(rest), request_id, 0, 2012) + rest)

    def read_any(sock):
        length, _, response_to, opcode = struct.unpack("<iiii", recv_exact(sock, 16))
        rest = recv_exact(sock, length - 16)
        if opcode == 2012:
            rest = zlib.decompress(rest[9:])
        return response_to, bson.decode(rest[5:])

    with socket.create_connection(("127.0.0.1", server["port"]), timeout=30) as sock:
        for attempt in range(5):
            started = time.monotonic()
            send_compressed(sock, 10 * attempt + 1, {"find": "wide", "filter": {}, "batchSize": 100, "singleBatch": True, "$db": db.name})
            time.sleep(0.01 * (attempt + 1))
            send_msg(sock, 10 * attempt + 2, {"find": "wide", "filter": {"_id": 7}, "projection": {"pad": 0}, "$db": db.name})
            first, big = read_any(sock)
            second, point = read_any(sock)
            assert (first, second) == (10 * attempt + 1, 10 * attempt + 2), time.monotonic() - started
            assert len(big["cursor"]["firstBatch"]) == 100
            assert point["cursor"]["firstBatch"] == [{"_id": 7}]


def test_point_reads_from_the_message_bytes_are_answered_byte_for_byte_as_the_general_path(server, db, client):
    """A find by _id whose document is in memory, or of the first document by a plainly indexed
    field, is read from the message's bytes and answered with the reply's bytes
    (RawPointRead.swift). The same find with a `comment` takes the general path: both replies
    are the same bytes (but the reply's own id), and serverStatus counts both."""
    import uuid
    db.points.insert_many([{"_id": "u1", "name": "ada", "n": bson.Int64(5), "tags": ["x", 1.5], "sid": 3},
                           {"_id": 7, "v": None, "sid": 3}, {"_id": 8, "sid": bson.Int64(4)}])
    db.points.create_index("sid")
    session = {"id": bson.Binary(uuid.uuid4().bytes, 4)}
    finds = [
        {"find": "points", "filter": {"_id": "u1"}, "limit": bson.Int64(1), "singleBatch": True, "lsid": session, "$db": db.name},
        {"find": "points", "filter": {"_id": 7.0}, "$db": db.name},
        {"find": "points", "filter": {"sid": 3}, "limit": bson.Int64(1), "singleBatch": True, "lsid": session, "$db": db.name},
        {"find": "points", "filter": {"sid": 4.0}, "limit": 1, "$db": db.name},
        {"find": "points", "filter": {"sid": 99}, "limit": 1, "$db": db.name},
        # As a driver configured with the Stable API sends it.
        {"find": "points", "filter": {"_id": "u1"}, "limit": 1, "singleBatch": True, "lsid": session, "apiVersion": "1",
         "apiStrict": True, "$db": db.name},
    ]
    before = client.admin.command("serverStatus")
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as sock:
        for body in finds:
            replies = []
            # The general path first (it also brings an _id's document into memory), then the raw one twice.
            for request_id, request in ((1, {**body, "comment": "general"}), (2, body), (3, body)):
                send_msg(sock, request_id, request)
                header = recv_exact(sock, 16)
                length, _, response_to, opcode = struct.unpack("<iiii", header)
                assert response_to == request_id and opcode == OP_MSG
                replies.append(recv_exact(sock, length - 16))
            assert replies[1] == replies[0] and replies[2] == replies[0], (body, [bson.decode(r[5:]) for r in replies])
            reply = bson.decode(replies[0][5:])
            assert list(reply) == ["cursor", "ok", "$clusterTime", "operationTime"]
            assert reply["cursor"]["id"] == 0 and isinstance(reply["cursor"]["id"], bson.Int64)
            assert len(reply["cursor"]["firstBatch"]) == (0 if body["filter"].get("sid") == 99 else 1)
    after = client.admin.command("serverStatus")
    assert after["opcounters"]["query"] - before["opcounters"]["query"] == 18
    assert after["metrics"]["commands"]["find"]["total"] - before["metrics"]["commands"]["find"]["total"] == 18
    assert after["metrics"]["document"]["returned"] - before["metrics"]["document"]["returned"] == 15
    assert db.points.find_one({"_id": "u1"}) == {"_id": "u1", "name": "ada", "n": 5, "tags": ["x", 1.5], "sid": 3}


def test_point_reads_from_memory_never_go_back_in_time_under_concurrent_updates(server, db, client):
    """Readers of one document by _id (answered from the record cache on the event loop, or
    from storage on the connection's queue) while a writer increments it: every reader sees
    values that never decrease, and after each acknowledged update every later read sees it."""
    import threading
    db.counter.insert_one({"_id": "n", "v": 0})
    stop = threading.Event()
    problems = []
    acknowledged = [0]

    def read():
        other = pymongo.MongoClient(client.address[0], client.address[1], directConnection=True)
        last = -1
        while not stop.is_set():
            floor = acknowledged[0]
            v = other[db.name].counter.find_one({"_id": "n"})["v"]
            if v < last or v < floor:
                problems.append((last, floor, v))
            last = v
        other.close()

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for i in range(1, 301):
        db.counter.update_one({"_id": "n"}, {"$set": {"v": i}})
        acknowledged[0] = i
    stop.set()
    for t in readers:
        t.join()
    assert not problems, problems[:5]
    assert db.counter.find_one({"_id": "n"})["v"] == 300
