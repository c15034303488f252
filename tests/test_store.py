"""The store: what a restarted kernel, another process or the CLI reads back from sqlite."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from conducto_nb.errors import PipelineNotFound, StoreError
from conducto_nb.model.states import IMAGE_LOG_CAP, ImageChanged, ImageState
from conducto_nb.store.db import SCHEMA_VERSION
from conducto_nb.store.pipelines import (
    LEASE_TIMEOUT,
    Owner,
    Store,
    boot_id,
    home,
    new_pipeline_id,
)
from conducto_nb.store.writer import StoreWriter

TREE = {"format": "conducto_nb/1", "root": {"type": "Serial", "name": "/", "children": []}}
STATUSES = {"/": ("pending", False), "/a": ("pending", False), "/b": ("pending", True)}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    with Store(db) as s:
        yield s


def me(heartbeat: float | None = None) -> Owner:
    return Owner(os.getpid(), boot_id(), time.time() if heartbeat is None else heartbeat, "sock")


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # reaped: the pid no longer exists
    return p.pid


def create(store: Store, pid: str = "abc-def", owner: Owner | None = None, **kw: object) -> None:
    args: dict[str, object] = {
        "name": "demo",
        "tree": TREE,
        "backend": "local",
        "owner": owner,
        "statuses": STATUSES,
    }
    args.update(kw)
    store.create_pipeline(pid, **args)  # type: ignore[arg-type]


def run_python(code: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


# -- basics ------------------------------------------------------------------------------------
def test_home_is_created_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONDUCTO_NB_HOME", str(tmp_path / "nested" / "home"))
    assert home() == tmp_path / "nested" / "home"
    assert home().is_dir()
    with Store() as s:
        assert s.path == tmp_path / "nested" / "home" / "store.db"
        create(s)
    assert (tmp_path / "nested" / "home" / "store.db").exists()


def test_ids_are_readable_and_boot_id_is_stable():
    ids = {new_pipeline_id() for _ in range(50)}
    assert all(re.fullmatch(r"[a-z]{3}-[a-z]{3}", i) for i in ids)
    assert len(ids) > 45
    assert boot_id() and boot_id() == boot_id()


def test_create_and_load_round_trip(store: Store):
    owner = me()
    before = time.time()
    create(store, owner=owner)
    rec = store.load("abc-def")
    assert (rec.id, rec.name, rec.backend, rec.tree) == ("abc-def", "demo", "local", TREE)
    assert before <= rec.created <= time.time()
    assert rec.statuses == STATUSES
    assert rec.state == "pending"
    assert rec.attempts == {}
    assert rec.owner == owner
    assert rec.owner_alive


def test_everything_survives_a_new_store_on_the_same_file(db: Path):
    with Store(db) as s:
        create(s)
        s.set_statuses("abc-def", [("/a", "done", False)])
        s.start_attempt("abc-def", "/a", 1, 10.0)
        s.append_output("abc-def", "/a", 1, "stdout", "hello\n")
    with Store(db) as s:  # a restarted kernel
        assert s.load("abc-def").statuses["/a"] == ("done", False)
        assert s.output("abc-def", "/a", "stdout") == "hello\n"


def test_set_tree_and_statuses_upsert(store: Store):
    create(store)
    new_tree = {**TREE, "root": {**TREE["root"], "children": [{"type": "Exec", "name": "x"}]}}
    store.set_tree("abc-def", new_tree)
    store.set_statuses("abc-def", [("/", "running", False), ("/a", "queued", False)])
    store.set_statuses("abc-def", [("/a", "running", False), ("/new", "pending", True)])
    rec = store.load("abc-def")
    assert rec.tree == new_tree
    assert rec.state == "running"
    assert rec.statuses == {
        "/": ("running", False),
        "/a": ("running", False),
        "/b": ("pending", True),
        "/new": ("pending", True),
    }


def test_attempts_in_order_with_timings(store: Store):
    create(store)
    store.start_attempt("abc-def", "/a", 1, 100.0)
    store.finish_attempt("abc-def", "/a", 1, state="error", exit_code=2, ended=101.5, message=None)
    store.start_attempt("abc-def", "/a", 2, 102.0)
    store.finish_attempt(
        "abc-def", "/b", 1, state="worker_error", exit_code=None, ended=103.0, message="no daemon"
    )
    a = store.load("abc-def").attempts
    assert [(x.attempt, x.state, x.exit_code, x.started, x.ended) for x in a["/a"]] == [
        (1, "error", 2, 100.0, 101.5),
        (2, "running", None, 102.0, None),
    ]
    (b,) = a["/b"]  # an attempt that never started is recorded too
    assert (b.state, b.started, b.ended, b.message) == ("worker_error", None, 103.0, "no daemon")


# -- output ------------------------------------------------------------------------------------
def test_output_streams_by_attempt(store: Store):
    create(store)
    assert store.output("abc-def", "/a", "stdout") == ""
    store.start_attempt("abc-def", "/a", 1, 1.0)
    for i in range(1000):
        store.append_output("abc-def", "/a", 1, "stdout", f"line {i}\n")
    store.append_output("abc-def", "/a", 1, "stderr", "warning\n")
    expected = "".join(f"line {i}\n" for i in range(1000))
    assert store.output("abc-def", "/a", "stdout") == expected
    assert store.output("abc-def", "/a", "stderr") == "warning\n"
    store.start_attempt("abc-def", "/a", 2, 2.0)
    assert store.output("abc-def", "/a", "stdout") == ""  # latest attempt printed nothing yet
    store.append_output("abc-def", "/a", 2, "stdout", "again\n")
    assert store.output("abc-def", "/a", "stdout") == "again\n"
    assert store.output("abc-def", "/a", "stdout", attempt=1) == expected
    assert store.output("abc-def", "/b", "stdout") == ""


def test_output_keeps_the_last_bytes_with_a_marker(db: Path):
    with Store(db, output_cap=100) as s:
        create(s)
        text = "".join(f"{i:04d}\n" for i in range(100))  # 500 bytes in 5-byte lines
        for line in text.splitlines(keepends=True):
            s.append_output("abc-def", "/a", 1, "stdout", line)
        assert s.output("abc-def", "/a", "stdout") == f"[... 400 bytes dropped ...]\n{text[-100:]}"
        s.append_output("abc-def", "/a", 1, "stdout", "x" * 250)  # one append past the cap
        assert s.output("abc-def", "/a", "stdout") == "[... 650 bytes dropped ...]\n" + "x" * 100
        # never half a character: the cut moves to the next boundary
        s.append_output("abc-def", "/a", 2, "stdout", "é" * 60)  # 120 bytes
        out = s.output("abc-def", "/a", "stdout")
        assert out == "[... 20 bytes dropped ...]\n" + "é" * 50
        s.append_output("abc-def", "/a", 3, "stdout", "é" * 50 + "a")  # 101 bytes
        assert s.output("abc-def", "/a", "stdout") == "[... 2 bytes dropped ...]\n" + "é" * 49 + "a"
        s.append_output("abc-def", "/a", 4, "stdout", "é" * 40)  # trimming stored chunks
        s.append_output("abc-def", "/a", 4, "stdout", "z" * 21)
        assert (
            s.output("abc-def", "/a", "stdout")
            == "[... 2 bytes dropped ...]\n" + "é" * 39 + "z" * 21
        )


def test_unknown_pipeline_is_a_key_error(store: Store):
    create(store)
    calls = [
        lambda: store.load("zzz-zzz"),
        lambda: store.output("zzz-zzz", "/a", "stdout"),
        lambda: store.set_tree("zzz-zzz", TREE),
        lambda: store.set_statuses("zzz-zzz", [("/", "done", False)]),
        lambda: store.start_attempt("zzz-zzz", "/a", 1, 1.0),
        lambda: store.append_output("zzz-zzz", "/a", 1, "stdout", "x"),
        lambda: store.set_owner("zzz-zzz", None),
        lambda: store.mark_interrupted("zzz-zzz"),
        lambda: store.delete("zzz-zzz"),
    ]
    for call in calls:
        with pytest.raises(PipelineNotFound, match="`zzz-zzz`") as info:
            call()
        assert isinstance(info.value, KeyError)
        assert isinstance(info.value, StoreError)


def test_a_duplicate_id_and_a_closed_store_are_store_errors(db: Path):
    s = Store(db)
    create(s)
    with pytest.raises(StoreError, match="`abc-def` already exists"):
        create(s)
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        s.load("abc-def")


def test_a_store_from_a_newer_version_is_refused(db: Path):
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(db)


def test_a_store_of_the_first_version_is_upgraded_keeping_its_pipelines(db: Path):
    s = Store(db)
    create(s)
    s.close()
    with sqlite3.connect(db) as conn:  # as conducto_nb 0.1's first store left it
        conn.execute("DROP TABLE images")
        conn.execute("ALTER TABLE statuses DROP COLUMN blocked_by")
        conn.execute("ALTER TABLE attempts DROP COLUMN result")
        conn.execute("ALTER TABLE attempts DROP COLUMN queued")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()
    s = Store(db)
    assert s.load("abc-def").name == "demo"
    s.set_statuses("abc-def", [("/b", "blocked", False, "/a")])
    assert s.load("abc-def").blocked == {"/b": "/a"}
    s.start_attempt("abc-def", "/a", 1, started=2.0, queued=1.0)
    s.finish_attempt(
        "abc-def", "/a", 1, state="done", exit_code=0, ended=3.0, message=None, result="42"
    )
    (attempt,) = s.load("abc-def").attempts["/a"]
    assert (attempt.queued, attempt.result) == (1.0, "42")
    image = ImageChanged("k1", "busybox + code: app", ImageState.DONE, ("/a",), tag="t:1")
    s.set_image("abc-def", image)
    assert s.images("abc-def") == ([image], {})
    s.close()
    with sqlite3.connect(db) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert version == (str(SCHEMA_VERSION),)


def test_images_keep_their_order_state_and_the_end_of_their_log(db: Path):
    s = Store(db)
    create(s)
    first = ImageChanged("k1", "one", ImageState.BUILDING, ("/a", "/c"), started=1.0)
    second = ImageChanged("k2", "two", ImageState.PENDING, ("/b",))
    s.set_image("abc-def", first)
    s.set_image("abc-def", second)
    s.append_image_log("abc-def", "k1", "Step 1/2\n")
    s.append_image_log("abc-def", "k1", "x" * IMAGE_LOG_CAP)
    done = ImageChanged("k1", "one", ImageState.DONE, ("/a", "/c"), "t:1", None, 1.0, 2.0)
    s.set_image("abc-def", done)  # the state changes, its place and log stay
    images, logs = s.images("abc-def")
    assert images == [done, second]
    assert logs == {"k1": "x" * IMAGE_LOG_CAP}  # the last IMAGE_LOG_CAP characters
    s.delete("abc-def")
    assert s.images("abc-def") == ([], {})
    s.close()


def test_a_building_image_read_back_says_how_far_its_build_is(db: Path):
    """The step is not stored: read from the log, as the building process read it."""
    s = Store(db)
    create(s)
    s.set_image("abc-def", ImageChanged("k1", "one", ImageState.BUILDING, ("/a",), started=1.0))
    s.append_image_log("abc-def", "k1", "Step 1/3 : FROM busybox\n ---> 1a2b\n")
    s.append_image_log(
        "abc-def", "k1", "Step 2/3 : RUN make\nmake: Step 9/9 : not at a line start\n"
    )
    [image], _ = s.images("abc-def")
    assert image.step == "2/3"
    s.set_image("abc-def", ImageChanged("k1", "one", ImageState.DONE, ("/a",), "t:1"))
    [image], _ = s.images("abc-def")
    assert image.step is None  # done: no step to tell
    s.close()


def test_of_two_claims_on_a_dead_owners_pipeline_exactly_one_wins(db: Path):
    first, second = Store(db), Store(db)  # two connections, as two processes have
    create(first, owner=Owner(2**22 + 7, boot_id(), time.time()))  # no such process
    winner = Owner(1, boot_id(), time.time(), "/tmp/a.sock")  # pid 1 is alive
    assert first.claim("abc-def", winner) is None
    assert second.claim("abc-def", Owner(os.getpid(), boot_id(), time.time())) == winner
    assert second.load("abc-def").owner == winner
    forced = Owner(os.getpid(), boot_id(), time.time())
    assert second.claim("abc-def", forced, force=True) is None  # a detached start takes it
    assert first.load("abc-def").owner == forced
    first.close()
    second.close()


def test_list_newest_first(store: Store):
    for pid in ("aaa-aaa", "bbb-bbb", "ccc-ccc"):
        create(store, pid, name=pid.upper())
    store.set_statuses("bbb-bbb", [("/", "done", False)])
    assert [(p.id, p.name, p.state) for p in store.list_pipelines()] == [
        ("ccc-ccc", "CCC-CCC", "pending"),
        ("bbb-bbb", "BBB-BBB", "done"),
        ("aaa-aaa", "AAA-AAA", "pending"),
    ]


# -- several processes -------------------------------------------------------------------------
def test_another_process_reads_while_this_one_writes(store: Store, db: Path):
    create(store)
    store.set_statuses("abc-def", [("/", "running", False)])
    store.append_output("abc-def", "/a", 1, "stdout", "committed\n")
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a write transaction held open by this process
        writer.execute("UPDATE statuses SET state = 'done' WHERE path = '/'")
        out = run_python(  # it would fail (database is locked) if it needed the lock held here
            """
            import sys
            from pathlib import Path
            from conducto_nb.store.pipelines import Store
            with Store(Path(sys.argv[1])) as s:
                print(s.load("abc-def").state, s.output("abc-def", "/a", "stdout"), end="")
            """,
            str(db),
        )
        assert out == "running committed\n"  # sees the last commit, not the open transaction
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert store.load("abc-def").state == "done"


def test_two_processes_append_at_once(store: Store, db: Path):
    create(store)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys
                from pathlib import Path
                from conducto_nb.store.pipelines import Store
                with Store(Path(sys.argv[1])) as s:
                    for i in range(300):
                        s.append_output("abc-def", "/b", 1, "stdout", f"{i}\\n")
                """
            ),
            str(db),
        ],
    )
    for i in range(300):
        store.append_output("abc-def", "/a", 1, "stdout", f"{i}\n")
    assert child.wait(timeout=60) == 0
    expected = "".join(f"{i}\n" for i in range(300))
    assert store.output("abc-def", "/a", "stdout") == expected
    assert store.output("abc-def", "/b", "stdout") == expected


def test_processes_opening_a_new_store_at_once(tmp_path: Path):
    db = tmp_path / "fresh.db"
    code = """
        import sys, time
        from pathlib import Path
        from conducto_nb.store.pipelines import Store
        while time.time() < float(sys.argv[2]):
            pass
        with Store(Path(sys.argv[1])) as s:
            s.create_pipeline(sys.argv[3], name="x", tree={}, backend="local", owner=None,
                              statuses={})
            s.append_output(sys.argv[3], "/", 1, "stdout", "ok")
        """
    start = str(time.time() + 1.0)  # all of them at the same moment
    procs = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(db), start, f"p{i}-abc"])
        for i in range(6)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * 6
    with Store(db) as s:
        assert sorted(p.id for p in s.list_pipelines()) == [f"p{i}-abc" for i in range(6)]
        assert s.output("p3-abc", "/", "stdout") == "ok"


# -- owners ------------------------------------------------------------------------------------
def test_owner_liveness(store: Store):
    assert store.owner_alive(me())
    assert not store.owner_alive(None)
    assert not store.owner_alive(Owner(dead_pid(), boot_id(), time.time()))
    assert not store.owner_alive(Owner(os.getpid(), "another-boot", time.time()))
    assert not store.owner_alive(me(heartbeat=time.time() - LEASE_TIMEOUT - 1))


def test_renew_renews_the_leases_of_a_process_and_release_clears_one(store: Store):
    create(store, owner=me(heartbeat=time.time() - LEASE_TIMEOUT - 5))
    assert not store.load("abc-def").owner_alive
    store.renew(os.getpid(), boot_id())
    assert store.load("abc-def").owner_alive
    store.set_owner("abc-def", None)
    rec = store.load("abc-def")
    assert (rec.owner, rec.owner_alive) == (None, False)
    store.renew(os.getpid(), boot_id())  # no owner, nothing to renew
    assert store.load("abc-def").owner is None


def running_pipeline(store: Store, owner: Owner | None) -> None:
    create(store, owner=owner)
    store.set_statuses(
        "abc-def",
        [
            ("/", "running", False),
            ("/a", "done", False),
            ("/b", "running", True),
            ("/c", "queued", False),
        ],
    )
    store.start_attempt("abc-def", "/a", 1, 1.0)
    store.append_output("abc-def", "/a", 1, "stdout", "a ran\n")
    store.finish_attempt("abc-def", "/a", 1, state="done", exit_code=0, ended=2.0, message=None)
    store.start_attempt("abc-def", "/b", 1, 3.0)
    store.append_output("abc-def", "/b", 1, "stdout", "b started\n")


def test_mark_interrupted_when_the_owner_died(store: Store):
    pid = dead_pid()
    running_pipeline(store, Owner(pid, boot_id(), time.time()))
    before = time.time()
    assert store.mark_interrupted("abc-def") == ["/", "/b", "/c"]
    rec = store.load("abc-def")
    assert rec.statuses == {
        "/": ("error", False),
        "/a": ("done", False),
        "/b": ("error", True),
        "/c": ("error", False),
    }
    (a,) = rec.attempts["/a"]
    assert (a.state, a.exit_code, a.ended, a.message) == ("done", 0, 2.0, None)
    (b,) = rec.attempts["/b"]
    assert b.state == "error" and b.started == 3.0
    assert b.ended is not None and before <= b.ended <= time.time()
    assert b.message == f"interrupted: the process that ran this pipeline (pid {pid}) died"
    assert store.output("abc-def", "/a", "stdout") == "a ran\n"
    assert store.output("abc-def", "/b", "stdout") == "b started\n"
    assert store.mark_interrupted("abc-def") == []  # a second caller changes nothing


def test_mark_interrupted_without_an_owner(store: Store):
    running_pipeline(store, None)
    assert store.mark_interrupted("abc-def") == ["/", "/b", "/c"]
    msg = store.load("abc-def").attempts["/b"][0].message
    assert msg == "interrupted: the process that ran this pipeline died"


def test_mark_interrupted_leaves_a_live_owner_alone(store: Store):
    running_pipeline(store, me())
    assert store.mark_interrupted("abc-def") == []
    rec = store.load("abc-def")
    assert rec.statuses["/b"] == ("running", True)
    assert rec.attempts["/b"][0].ended is None


def test_two_processes_racing_to_mark_interrupted(store: Store, db: Path):
    running_pipeline(store, Owner(dead_pid(), boot_id(), time.time()))
    code = """
        import sys
        from pathlib import Path
        from conducto_nb.store.pipelines import Store
        with Store(Path(sys.argv[1])) as s:
            print(",".join(s.mark_interrupted("abc-def")))
        """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(db)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outs == ["", "", "/,/b,/c"]


# -- deleting ----------------------------------------------------------------------------------
def test_delete_forgets_everything(store: Store):
    running_pipeline(store, None)
    create(store, "oth-er")
    store.delete("abc-def")
    with pytest.raises(PipelineNotFound):
        store.load("abc-def")
    with pytest.raises(PipelineNotFound):
        store.output("abc-def", "/a", "stdout")
    assert [p.id for p in store.list_pipelines()] == ["oth-er"]


def test_gc_deletes_only_old_pipelines_without_a_live_owner(store: Store):
    create(store, "old-liv", owner=me())
    create(store, "old-ded", owner=Owner(dead_pid(), boot_id(), time.time()))
    create(store, "old-non")
    store.append_output("old-non", "/a", 1, "stdout", "bye\n")
    time.sleep(0.01)
    between = time.time()
    time.sleep(0.01)
    create(store, "new-non")
    # an hour from `between`, what was created before it is over an hour old; "new-non" is not
    assert sorted(store.gc(older_than=3600, now=between + 3600)) == ["old-ded", "old-non"]
    assert [p.id for p in store.list_pipelines()] == ["new-non", "old-liv"]
    assert store.gc(older_than=60) == []  # nothing is a minute old yet


# -- the batching writer -----------------------------------------------------------------------
def test_writer_applies_writes_in_order_after_flush(store: Store, db: Path):
    with StoreWriter(store) as w:
        w.create_pipeline(
            "abc-def", name="demo", tree=TREE, backend="local", owner=me(), statuses=STATUSES
        )
        w.start_attempt("abc-def", "/a", 1, 5.0)
        for state in ("queued", "running", "done"):
            w.set_statuses("abc-def", [("/a", state, False)])
        for i in range(2000):
            w.append_output("abc-def", "/a", 1, "stdout" if i % 3 else "stderr", f"{i}\n")
        w.finish_attempt("abc-def", "/a", 1, state="done", exit_code=0, ended=6.0, message=None)
        w.renew(os.getpid(), boot_id(), now=1234.5)
        w.flush(timeout=30)
        with Store(db) as other:  # what another process would see
            rec = other.load("abc-def")
            assert rec.statuses["/a"] == ("done", False)
            assert [(a.started, a.ended, a.state) for a in rec.attempts["/a"]] == [
                (5.0, 6.0, "done")
            ]
            assert rec.owner is not None and rec.owner.heartbeat == 1234.5
            out = other.output("abc-def", "/a", "stdout")
            assert out == "".join(f"{i}\n" for i in range(2000) if i % 3)
            err = other.output("abc-def", "/a", "stderr")
            assert err == "".join(f"{i}\n" for i in range(0, 2000, 3))


def test_writer_keeps_each_paths_last_status_across_interleaved_pipelines(store: Store):
    """A burst of status rows is written as fewer upserts: what lands is still each path's
    last row, per pipeline, whatever else was queued between them (a second pipeline's
    creation among them)."""
    with StoreWriter(store) as w:
        for pid in ("abc-def", "ghi-jkl"):
            w.create_pipeline(
                pid, name="d", tree=TREE, backend="local", owner=None, statuses=STATUSES
            )
            w.set_statuses(pid, [("/a", "queued", False), ("/b", "queued", True)])
        w.start_attempt("abc-def", "/a", 1, 5.0)
        w.set_statuses("ghi-jkl", [("/a", "running", False)])
        w.set_statuses("abc-def", [("/a", "done", False), ("/", "running", False)])
        w.set_statuses("ghi-jkl", [("/a", "error", False), ("/b", "pending", False)])
        w.set_statuses("abc-def", [("/b", "running", True)])
    first, second = store.load("abc-def").statuses, store.load("ghi-jkl").statuses
    assert first == {"/": ("running", False), "/a": ("done", False), "/b": ("running", True)}
    assert second == {"/": ("pending", False), "/a": ("error", False), "/b": ("pending", False)}


def test_writer_records_attempts_as_the_calls_one_by_one_would(store: Store, tmp_path: Path):
    """A node's start and end (taken in one batch, written as one row) and the rest of a burst
    of attempts land as the same calls made one by one on a store would leave them: a retry,
    an end without a start (killed while queued), a start not yet ended, two pipelines."""
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for pid in ("abc-def", "ghi-jkl"):
        calls += [
            ("start_attempt", (pid, "/a", 1, 1.0, 0.5), {}),
            (
                "finish_attempt",
                (pid, "/a", 1),
                dict(state="error", exit_code=2, ended=2.0, message="boom"),
            ),
            ("start_attempt", (pid, "/a", 2, 3.0, 2.5), {}),
            (
                "finish_attempt",
                (pid, "/b", 1),
                dict(state="killed", exit_code=None, ended=3.5, message="killed"),
            ),
            (
                "finish_attempt",
                (pid, "/a", 2),
                dict(state="done", exit_code=0, ended=4.0, message=None, result="42"),
            ),
            ("start_attempt", (pid, "/c", 1, 5.0), {}),
        ]
    with Store(tmp_path / "one-by-one.db") as direct:
        for pid in ("abc-def", "ghi-jkl"):
            create(direct, pid)
            create(store, pid)
        for name, args, kw in calls:
            getattr(direct, name)(*args, **kw)
        with StoreWriter(store) as w:
            for name, args, kw in calls:
                getattr(w, name)(*args, **kw)
        for pid in ("abc-def", "ghi-jkl"):
            assert store.load(pid).attempts == direct.load(pid).attempts
    done = store.load("abc-def").attempts["/a"][1]
    assert (done.queued, done.started, done.ended, done.state, done.result) == (
        2.5,
        3.0,
        4.0,
        "done",
        "42",
    )


def test_writer_snapshots_the_tree_at_the_call(store: Store):
    root = {"name": "/", "params": MappingProxyType({"cpu": 1})}  # any Mapping will do
    tree = {"format": "conducto_nb/1", "root": root}
    with StoreWriter(store) as w:
        w.create_pipeline("abc-def", name="d", tree=tree, backend="local", owner=None, statuses={})
        root["name"] = "changed later"
    assert store.load("abc-def").tree == {
        "format": "conducto_nb/1",
        "root": {"name": "/", "params": {"cpu": 1}},
    }
    with pytest.raises(StoreError, match="JSON"):
        store.set_tree("abc-def", {"root": object()})


def test_writer_returns_at_once(store: Store, db: Path):
    create(store)
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        with StoreWriter(store) as w:
            blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            for i in range(100):  # a call that waited for the lock would wait for ever here
                w.append_output("abc-def", "/a", 1, "stdout", f"{i}\n")
                w.set_statuses("abc-def", [("/a", "running", False)])
            assert store.output("abc-def", "/a", "stdout") == ""  # queued, not yet written
            blocker.execute("COMMIT")
            w.flush(timeout=30)
    finally:
        blocker.close()
    assert store.output("abc-def", "/a", "stdout") == "".join(f"{i}\n" for i in range(100))


def test_writes_queued_at_exit_are_not_lost(store: Store, db: Path):
    create(store)
    run_python(
        """
        import sys
        from pathlib import Path
        from conducto_nb.store.pipelines import Store
        from conducto_nb.store.writer import StoreWriter
        w = StoreWriter(Store(Path(sys.argv[1])))
        for i in range(500):
            w.append_output("abc-def", "/a", 1, "stdout", f"{i}\\n")
        w.set_statuses("abc-def", [("/", "done", False)])
        """,  # the process ends without flush() or close()
        str(db),
    )
    assert store.output("abc-def", "/a", "stdout") == "".join(f"{i}\n" for i in range(500))
    assert store.load("abc-def").state == "done"


def test_writer_failure_surfaces_from_flush(store: Store):
    create(store)
    w = StoreWriter(store)
    w.start_attempt("abc-def", "/a", 1, 5.0)
    w.append_output("gone-id", "/a", 1, "stdout", "lost\n")  # no such pipeline
    w.append_output("abc-def", "/a", 1, "stdout", "kept\n")
    w.set_statuses("abc-def", [("/a", "done", False)])
    with pytest.raises(StoreError, match="`gone-id`"):
        w.flush(timeout=30)
    assert store.output("abc-def", "/a", "stdout") == "kept\n"  # the others still landed
    assert [a.started for a in store.load("abc-def").attempts["/a"]] == [5.0]  # once
    assert store.load("abc-def").statuses["/a"] == ("done", False)
    w.flush(timeout=30)  # reported once
    w.close()
    with pytest.raises(StoreError, match="closed"):
        w.renew(os.getpid(), boot_id())


def test_writer_failure_on_a_closed_store_surfaces_from_close(db: Path):
    s = Store(db)
    create(s)
    w = StoreWriter(s)
    w.flush()
    s.close()
    w.set_statuses("abc-def", [("/a", "done", False)])
    with pytest.raises(StoreError, match="closed"):
        w.close()
