"""A folio server for the wire benchmarks: a free port, a fresh data directory, started and
waited for, stopped and its directory removed at the end."""
import os
import shutil
import socket
import subprocess
import tempfile
import time


def per_op(fn, n):
    """Microseconds per call of fn(i) over n calls."""
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e6


def proc_field(pid, name, field):
    """The first number of a `field:` line of /proc/<pid>/<name> (status, io, ...), 0 if absent."""
    with open(f"/proc/{pid}/{name}") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FolioServer:
    def __init__(self, binary, prefix="folio-bench-", args=()):
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix=prefix)
        self.proc = subprocess.Popen([binary, "serve", "--port", str(self.port), "--dbpath", self.data, "--quiet", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{binary} did not start")

    def cpu_seconds(self):
        """The server process's user and system CPU time so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self):
        """The server process's resident memory, in KiB."""
        return proc_field(self.proc.pid, "status", "VmRSS")

    def written_bytes(self):
        """Bytes the server has passed to write syscalls so far (the WAL, checkpoints)."""
        return proc_field(self.proc.pid, "io", "wchar")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()
