"""Shared fixtures for the compatibility suite: the folio binary and a server started from it."""
import atexit
import contextlib
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import pymongo
import pytest


@pytest.fixture(scope="session")
def folio_binary() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("FOLIO_BINARY", ".build/release/folio"))
    assert path.exists(), f"folio binary not found at {path}; scripts/test builds it"
    return path


def scratch_directory(prefix="folio-compat-") -> str:
    """A fresh directory in the system's temporary folder, removed when the test process exits.
    A restart test starts a second server on a stopped one's directory, so the directory must
    outlive the server; before, every run left its servers' data (up to 300 MB each) in /tmp."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(folio_binary, *extra_args, data=None, port=None):
    """A folio server on a free port with its data in a fresh directory (or `data`, on `port`:
    a restart), stopped on exit."""
    port = port or free_port()
    data = data or scratch_directory()
    # The server's output (its JSON log on stderr) goes to a file: a pipe nobody reads would
    # fill up and block the server's next log line.
    output = tempfile.TemporaryFile("w+", prefix="folio-compat-output-")
    proc = subprocess.Popen([str(folio_binary), "serve", "--port", str(port), "--dbpath", data, *extra_args],
                            stdout=output, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                output.seek(0)
                raise RuntimeError(f"folio serve exited: {output.read()}")
            time.sleep(0.1)
    try:
        yield {"port": port, "data": data, "process": proc, "output": output}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        output.close()


@pytest.fixture(scope="session")
def server(folio_binary):
    """The suite's shared server."""
    with running_server(folio_binary, "--ttl-monitor-seconds", "1") as s:
        yield s


@pytest.fixture(scope="session")
def test_commands_server(folio_binary):
    """A server with test commands (configureFailPoint), for the spec folders' fail-point cases."""
    with running_server(folio_binary, "--enable-test-commands") as s:
        yield s


@pytest.fixture()
def client(server):
    c = pymongo.MongoClient(f"mongodb://127.0.0.1:{server['port']}/?directConnection=true", serverSelectionTimeoutMS=5000)
    yield c
    c.close()


@pytest.fixture()
def db(client, request):
    name = "compat_" + request.node.name.replace("[", "_").replace("]", "_")[:40]
    client.drop_database(name)
    yield client[name]
    client.drop_database(name)
