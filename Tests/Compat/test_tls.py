"""TLS (`folio serve --tls-mode ...`) through pymongo, with certificates this test makes with
Debian's openssl: required and optional TLS, client certificates, certificate rotation, and a
client that starts a handshake and stalls."""

import os
import shutil
import socket
import subprocess
import tempfile

import pymongo
import pytest
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from conftest import running_server


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=directory)
    return os.path.join(directory, f"{name}.pem")


def make_certificate(directory, name, ca, subject, server=True):
    """A key and certificate signed by `ca`, written together to <name>.pem (MongoDB's
    certificateKeyFile layout)."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)
    extensions = os.path.join(directory, f"{name}.ext")
    with open(extensions, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-extfile", extensions, "-out", f"{name}.crt", cwd=directory)
    path = os.path.join(directory, f"{name}.pem")
    with open(path, "w") as out:
        for part in (f"{name}.crt", f"{name}.key"):
            with open(os.path.join(directory, part)) as f:
                out.write(f.read())
    return path


@pytest.fixture(scope="module")
def certificates():
    directory = tempfile.mkdtemp(prefix="folio-tls-")
    files = {
        "ca": make_ca(directory, "ca"),
        "ca2": make_ca(directory, "ca2"),
    }
    files["server"] = make_certificate(directory, "server", "ca", "/CN=localhost")
    files["server2"] = make_certificate(directory, "server2", "ca2", "/CN=localhost")
    files["client"] = make_certificate(directory, "client", "ca", "/CN=app/O=Tenant A", server=False)
    yield files
    shutil.rmtree(directory, ignore_errors=True)


def tls_client(port, ca, timeout_ms=5000, **kw):
    return pymongo.MongoClient(port=port, tls=True, tlsCAFile=ca, serverSelectionTimeoutMS=timeout_ms, directConnection=True, **kw)


def refused(client):
    """The client cannot reach the server (a refusal shows as a server selection timeout)."""
    with pytest.raises((ServerSelectionTimeoutError, ConnectionFailure)):
        client.admin.command("ping")


def plain_client(port, timeout_ms=5000):
    return pymongo.MongoClient(port=port, serverSelectionTimeoutMS=timeout_ms, directConnection=True)


def test_required_tls_serves_tls_clients_and_refuses_plain_ones(folio_binary, certificates):
    with running_server(folio_binary, "--tls-mode", "requireTLS", "--tls-certificate-key-file", certificates["server"]) as s:
        c = tls_client(s["port"], certificates["ca"])
        c.app.items.insert_many([{"i": i, "pad": "x" * 1000} for i in range(2000)])
        assert c.app.items.count_documents({}) == 2000
        assert len(list(c.app.items.find())) == 2000
        refused(plain_client(s["port"], timeout_ms=800))
        # A client that trusts another authority does not get in either.
        refused(tls_client(s["port"], certificates["ca2"], timeout_ms=800))


@pytest.mark.parametrize("mode", ["allowTLS", "preferTLS"])
def test_optional_tls_serves_both(folio_binary, certificates, mode):
    with running_server(folio_binary, "--tls-mode", mode, "--tls-certificate-key-file", certificates["server"]) as s:
        assert tls_client(s["port"], certificates["ca"]).admin.command("ping")["ok"] == 1.0
        assert plain_client(s["port"]).admin.command("ping")["ok"] == 1.0


def test_client_certificates_are_required_with_a_ca_file(folio_binary, certificates):
    args = ["--tls-mode", "requireTLS", "--tls-certificate-key-file", certificates["server"], "--tls-ca-file", certificates["ca"]]
    with running_server(folio_binary, *args) as s:
        refused(tls_client(s["port"], certificates["ca"], timeout_ms=800))
        c = tls_client(s["port"], certificates["ca"], tlsCertificateKeyFile=certificates["client"])
        assert c.admin.command("ping")["ok"] == 1.0
    with running_server(folio_binary, *args, "--tls-allow-connections-without-certificates") as s:
        assert tls_client(s["port"], certificates["ca"]).admin.command("ping")["ok"] == 1.0
        assert tls_client(s["port"], certificates["ca"], tlsCertificateKeyFile=certificates["client"]).admin.command("ping")["ok"] == 1.0


def test_rotate_certificates_serves_new_connections_with_the_new_files(folio_binary, certificates):
    directory = tempfile.mkdtemp(prefix="folio-tls-rotate-")
    live = os.path.join(directory, "server.pem")
    shutil.copy(certificates["server"], live)
    try:
        with running_server(folio_binary, "--tls-mode", "requireTLS", "--tls-certificate-key-file", live) as s:
            old = tls_client(s["port"], certificates["ca"])
            assert old.admin.command("ping")["ok"] == 1.0
            shutil.copy(certificates["server2"], live)
            assert old.admin.command("rotateCertificates")["ok"] == 1.0
            assert tls_client(s["port"], certificates["ca2"]).admin.command("ping")["ok"] == 1.0
            refused(tls_client(s["port"], certificates["ca"], timeout_ms=800))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_stalled_handshake_does_not_hold_up_others(folio_binary, certificates):
    with running_server(folio_binary, "--tls-mode", "requireTLS", "--tls-certificate-key-file", certificates["server"]) as s:
        stalled = [socket.create_connection(("127.0.0.1", s["port"])) for _ in range(20)]
        for sock in stalled:
            sock.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then nothing
        c = tls_client(s["port"], certificates["ca"])
        for _ in range(20):
            assert c.admin.command("ping")["ok"] == 1.0
        # Garbage after a TLS record header ends that connection, not the server.
        bad = socket.create_connection(("127.0.0.1", s["port"]))
        bad.sendall(b"\x16\x03\x01\x00\x05garbage-not-a-handshake")
        bad.settimeout(5)
        try:
            assert bad.recv(100) is not None
        except (ConnectionResetError, socket.timeout):
            pass
        assert c.admin.command("ping")["ok"] == 1.0
        for sock in stalled + [bad]:
            sock.close()


def test_rotate_certificates_without_tls_is_refused(server):
    c = pymongo.MongoClient(port=server["port"])
    with pytest.raises(pymongo.errors.OperationFailure) as e:
        c.admin.command("rotateCertificates")
    assert e.value.code == 140


def test_x509_authentication_with_a_verified_client_certificate(folio_binary, certificates):
    # The user's name is the certificate's subject as RFC 2253 writes it (openssl agrees).
    subject = subprocess.run(["openssl", "x509", "-in", certificates["client"], "-noout", "-subject", "-nameopt", "RFC2253"],
                             check=True, capture_output=True, text=True).stdout.strip().removeprefix("subject=")
    assert subject == "O=Tenant A,CN=app"
    args = ["--tls-mode", "requireTLS", "--tls-certificate-key-file", certificates["server"], "--tls-ca-file", certificates["ca"],
            "--tls-allow-connections-without-certificates", "--auth"]
    with running_server(folio_binary, *args) as s:
        bare = tls_client(s["port"], certificates["ca"])
        bare.admin.command("createUser", "root", pwd="pw", roles=["root"])
        root = tls_client(s["port"], certificates["ca"], username="root", password="pw")
        root["$external"].command("createUser", subject, roles=[{"role": "readWrite", "db": "tenantA"}])
        info = root["$external"].command("usersInfo", subject)["users"][0]
        assert info["mechanisms"] == ["external"] and info["db"] == "$external"
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            root["$external"].command("createUser", "CN=other", pwd="x", roles=[])
        assert e.value.code == 2

        app = tls_client(s["port"], certificates["ca"], tlsCertificateKeyFile=certificates["client"], authMechanism="MONGODB-X509")
        app.tenantA.items.insert_one({"by": "certificate"})
        status = app.admin.command("connectionStatus")["authInfo"]
        assert status["authenticatedUsers"] == [{"user": subject, "db": "$external"}]
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            app.tenantB.items.find_one()
        assert e.value.code == 13
        # Without a certificate there is nobody to authenticate as.
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            tls_client(s["port"], certificates["ca"], authMechanism="MONGODB-X509", username=subject).admin.command("ping")
        assert e.value.code == 18
