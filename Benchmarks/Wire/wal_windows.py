"""How many WAL pages a run would have written had SQLite committed once per window of commits.

    python3 Benchmarks/Wire/wal_windows.py DBPATH/folio.db-wal OPERATIONS

Input: the WAL of a whole run. Produce it with a build whose background checkpoint does
nothing (return at the top of `Checkpointer.run()` in SQLiteStorageEngine.swift), run the
workload against it, then kill -9 the server so that the WAL is neither checkpointed nor
truncated. OPERATIONS is how many writes the run made (e.g. cbench's RECORDS for `load`).

For each window size W it takes the run's commits W at a time and counts the distinct pages
in each group: the frames SQLite would have written if the W commits had been one. This is
what a log of small records in front of SQLite (SQLite committing in bulk) would save on the
WAL's bytes; BENCHMARKS.md, issue 28, 2026-12-07, fourth session.

The WAL format is SQLite's (https://www.sqlite.org/fileformat.html#the_write_ahead_log): a
32-byte header (page size at offset 8, salts at 16), then frames of a 24-byte header (page
number, database size after a commit frame or 0, the salts) and one page. Frames whose
salts differ from the header's are left over from before the log last started over.
"""
import os
import struct
import sys


def commits(path):
    """The page size, the number of frames, and each commit's set of page numbers. Reads only
    the headers: a whole run's WAL can be gigabytes."""
    with open(path, "rb") as wal:
        header = wal.read(32)
        if len(header) < 32:
            sys.exit(f"{path}: not a WAL (too short)")
        page = struct.unpack(">I", header[8:12])[0]
        salts = header[16:24]
        size = os.fstat(wal.fileno()).st_size
        out, current, frames, offset = [], set(), 0, 32
        while offset + 24 + page <= size:
            wal.seek(offset)
            frame = wal.read(16)
            if frame[8:16] != salts:
                break
            number, size_after = struct.unpack(">II", frame[:8])
            current.add(number)
            frames += 1
            if size_after:
                out.append(current)
                current = set()
            offset += 24 + page
    return page, frames, out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    page, frames, groups = commits(sys.argv[1])
    operations = int(sys.argv[2])
    if not groups or operations <= 0:
        sys.exit("no commits in the log, or no operations")
    per_commit = operations / len(groups)
    print(f"page {page} B, {frames} frames, {len(groups)} commits, {operations} operations "
          f"({per_commit:.2f} per commit), {frames / operations:.2f} frames per operation")
    print("| window (commits) | ~operations | pages per operation | KiB per operation |")
    print("|---:|---:|---:|---:|")
    for window in (1, 10, 100, 300, 1000, 3000, 10000, 30000):
        if window > len(groups):
            break
        used = len(groups) // window * window
        pages = sum(len(set().union(*groups[i:i + window])) for i in range(0, used, window))
        per_operation = pages / (used * per_commit)
        print(f"| {window:,} | {window * per_commit:,.0f} | {per_operation:.3f} | {per_operation * page / 1024:.2f} |")


if __name__ == "__main__":
    main()
