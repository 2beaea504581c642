import json
import multiprocessing as mp

import pytest

from rnnbench.results import SCHEMA_VERSION, append_record, read_records


def rec(i, **extra):
    return {"schema_version": SCHEMA_VERSION, "run_id": f"r{i}", **extra}


def test_append_and_read_round_trip(tmp_path):
    path = tmp_path / "sub" / "runs.jsonl"
    for i in range(3):
        append_record(path, rec(i, value=i / 3))
    assert [r["run_id"] for r in read_records(path)] == ["r0", "r1", "r2"]
    assert read_records(tmp_path) == read_records(path)  # a directory reads every *.jsonl below it


def test_corrupt_and_truncated_lines_are_skipped_with_a_warning(tmp_path):
    path = tmp_path / "runs.jsonl"
    append_record(path, rec(0))
    with open(path, "a") as fh:
        fh.write("this is not json\n")
        fh.write('{"no_schema": 1}\n')
        fh.write('{"schema_version": 1, "run_id": "half')  # a writer killed mid-line
    with pytest.warns(UserWarning) as caught:
        records = read_records(path)
    assert [str(w.message).split(": ", 1)[0].rsplit("/", 1)[1] for w in caught] == [
        "runs.jsonl:2",
        "runs.jsonl:3",
        "runs.jsonl:4",
    ]
    assert [r["run_id"] for r in records] == ["r0"]
    append_record(path, rec(1))  # starts on a fresh line, the earlier line stays as it was
    lines = path.read_text().splitlines()
    assert lines[-1] == json.dumps(rec(1), sort_keys=True) and lines[-2].endswith('"half')
    with pytest.warns(UserWarning):
        assert [r["run_id"] for r in read_records(path)] == ["r0", "r1"]


def _writer(path, start):
    for i in range(start, start + 200):
        append_record(path, rec(i, payload="x" * 5000))


def test_concurrent_writers_do_not_interleave(tmp_path):
    path = tmp_path / "runs.jsonl"
    procs = [mp.get_context("fork").Process(target=_writer, args=(path, k * 1000)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    records = read_records(path)
    assert len(records) == 600 and len({r["run_id"] for r in records}) == 600


def test_a_writer_waits_for_the_lock_and_syncs_its_line(tmp_path, monkeypatch):
    """While another process holds the file's lock, append_record waits (without the flock
    it would write at once); it writes after the lock is released, and fsyncs the line."""
    import fcntl
    import os
    import time

    path = tmp_path / "runs.jsonl"
    path.write_text("")
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    child = mp.get_context("fork").Process(target=append_record, args=(path, {"run_id": "waiting"}))
    child.start()
    time.sleep(1.0)
    assert child.is_alive() and path.read_text() == "", "the writer must wait for the lock"
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    child.join(10)
    assert child.exitcode == 0 and [json.loads(line)["run_id"] for line in path.read_text().splitlines()] == ["waiting"]
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda f: (synced.append(os.fstat(f).st_size), real(f)))
    append_record(path, {"run_id": "second"})
    assert synced == [path.stat().st_size], "fsync once, after the whole line is written"


def test_non_finite_numbers_are_refused(tmp_path):
    with pytest.raises(ValueError):
        append_record(tmp_path / "r.jsonl", rec(0, value=float("nan")))
    assert not (tmp_path / "r.jsonl").exists() or (tmp_path / "r.jsonl").read_text() == ""
