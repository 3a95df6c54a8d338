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
