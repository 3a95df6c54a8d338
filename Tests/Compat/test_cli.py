"""The command line as a user meets it: --help, --version, and serve's flags."""
import subprocess


def run(binary, *args):
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


def test_version(folio_binary):
    result = run(folio_binary, "--version")
    assert result.returncode == 0
    assert result.stdout.startswith("folio ")
    assert "MongoDB 8.0" in result.stdout


def test_help_lists_serve(folio_binary):
    result = run(folio_binary, "--help")
    assert result.returncode == 0
    assert "serve" in result.stdout


def test_serve_help_documents_flags(folio_binary):
    result = run(folio_binary, "serve", "--help")
    assert result.returncode == 0
    for flag in ("--port", "--bind", "--dbpath", "--replset-name"):
        assert flag in result.stdout


def test_serve_rejects_bad_port(folio_binary):
    result = run(folio_binary, "serve", "--port", "70000")
    assert result.returncode != 0
    assert "70000" in result.stderr


def _client(port):
    import pymongo
    return pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=5000)


def test_shutdown_command_and_sigterm_stop_cleanly(folio_binary):
    """The shutdown command (and SIGTERM) stop the server gracefully: the process exits 0,
    and what was acknowledged is there when it starts again on the same data."""
    import signal
    import pymongo
    import pytest
    from conftest import running_server
    with running_server(folio_binary) as s:
        c = _client(s["port"])
        c.app.items.insert_many([{"_id": i} for i in range(100)])
        # A database other than admin is refused (13) and the server keeps running.
        with pytest.raises(pymongo.errors.OperationFailure) as refused:
            c.app.command("shutdown")
        assert refused.value.code == 13
        # As with MongoDB, the server closes the connection instead of answering.
        with pytest.raises(pymongo.errors.AutoReconnect):
            c.admin.command("shutdown", timeoutSecs=5)
        c.close()
        assert s["process"].wait(timeout=30) == 0
        data = s["data"]
    with running_server(folio_binary, "--dbpath", data) as s:
        c = _client(s["port"])
        assert c.app.items.count_documents({}) == 100
        c.app.items.insert_one({"_id": 100})
        c.close()
        s["process"].send_signal(signal.SIGTERM)
        assert s["process"].wait(timeout=30) == 0
    with running_server(folio_binary, "--dbpath", data) as s:
        assert _client(s["port"]).app.items.count_documents({}) == 101


def test_log_is_mongodbs_json_lines(folio_binary, tmp_path):
    """--logpath gets MongoDB's structured JSON lines (startup, connections, slow operations,
    shutdown); getLog returns them; --quiet leaves connection events out."""
    import json
    import signal
    from conftest import running_server
    logfile = tmp_path / "folio.log"
    with running_server(folio_binary, "--logpath", str(logfile), "--slowms", "0") as s:
        c = _client(s["port"])
        c.app.items.insert_one({"_id": 1})
        lines = c.admin.command("getLog", "global")["log"]
        assert any('"msg":"Waiting for connections"' in line for line in lines)
        c.close()
        s["process"].send_signal(signal.SIGTERM)
        assert s["process"].wait(timeout=30) == 0
    entries = [json.loads(line) for line in logfile.read_text().splitlines()]
    for e in entries:
        assert list(e)[:6] == ["t", "s", "c", "id", "ctx", "msg"] and "$date" in e["t"], e
    ids = [e["id"] for e in entries]
    for expected in (23016, 22943, 51800, 51803, 22944, 23377, 23138):
        assert expected in ids, (expected, ids)
    waiting = next(e for e in entries if e["id"] == 23016)
    assert waiting["attr"] == {"port": s["port"], "ssl": "off"}
    slow = next(e for e in entries if e["id"] == 51803 and e["attr"]["ns"] == "app.items")
    assert slow["attr"]["command"]["insert"] == "items" and isinstance(slow["attr"]["durationMillis"], int)

    quiet_log = tmp_path / "quiet.log"
    with running_server(folio_binary, "--logpath", str(quiet_log), "--quiet") as s:
        _client(s["port"]).admin.command("ping")
    ids = [json.loads(line)["id"] for line in quiet_log.read_text().splitlines()]
    assert 23016 in ids and 22943 not in ids and 51800 not in ids


def test_metrics_endpoint_serves_prometheus_text(folio_binary):
    import urllib.request
    from conftest import free_port, running_server
    port = free_port()
    with running_server(folio_binary, "--metrics-port", str(port)) as s:
        c = _client(s["port"])
        c.app.items.insert_one({"_id": 1})
        assert c.app.items.find_one({"_id": 1}) == {"_id": 1}
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert 'folio_commands_total{command="insert",outcome="ok"} 1' in text
        assert 'folio_command_duration_seconds_count{command="find"} 1' in text
        assert "folio_connections " in text and "folio_storage_bytes " in text
        # Finds by _id and the first document by an indexed field are answered from the
        # message's bytes (RawPointRead.swift): on the event loop from memory, on the
        # connection's queue from storage (the first read after a write; an index build
        # empties the record cache). They count as finds all the same.
        c.app.items.create_index("k")
        assert c.app.items.find_one({"_id": 1}) == {"_id": 1}
        assert c.app.items.find_one({"_id": 1}) == {"_id": 1}
        assert c.app.items.find_one({"k": 5}) is None
        assert c.app.items.find_one({"_id": 1}, {"_id": 1}) == {"_id": 1}  # a projection: the general path
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert "folio_point_reads_from_bytes_total 4" in text, text
        assert 'folio_command_duration_seconds_count{command="find"} 5' in text
        c.close()


def test_sigint_stops_every_service(folio_binary, tmp_path):
    """SIGINT shuts the service group down gracefully: the signal is logged with its number,
    the wire server and the metrics endpoint both close, and the process exits 0."""
    import json
    import signal
    import socket
    import urllib.request
    from conftest import free_port, running_server
    metrics_port = free_port()
    logfile = tmp_path / "folio.log"
    with running_server(folio_binary, "--metrics-port", str(metrics_port), "--logpath", str(logfile)) as s:
        c = _client(s["port"])
        c.app.items.insert_many([{"_id": i} for i in range(200)])
        urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read()
        c.close()
        s["process"].send_signal(signal.SIGINT)
        assert s["process"].wait(timeout=30) == 0
        for port in (s["port"], metrics_port):
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, port
    entries = [json.loads(line) for line in logfile.read_text().splitlines()]
    received = next(e for e in entries if e["id"] == 23377)
    assert received["attr"] == {"signal": 2, "error": "Interrupt"}
    assert entries[-1]["id"] == 23138
    # Nothing below the default verbosity, and every line has one of MongoDB's ids (or Folio's).
    assert all(e["s"] in ("I", "W", "E", "F") and e["id"] != 0 for e in entries), [e for e in entries if e["id"] == 0]
