"""The ledger on a real PostgreSQL server started by these tests (issue 15): several kernels writing at
once, one day budget per user across kernels, a server outage in the middle of a session, migrations
racing on a new database, exactly-once delivery of spooled rows, views alike on both backends."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from kernel_harness import RealKernel

pytestmark = [pytest.mark.postgres, pytest.mark.kernel]
psycopg = pytest.importorskip("psycopg", reason="the postgres extra is not installed")


from agent_magic.events import MessageAdded, MessageOrigin, TurnEnded, TurnStarted, TurnState, Usage  # noqa: E402
from agent_magic.ledger.backends import PostgresBackend, Statement, masked_url  # noqa: E402
from agent_magic.ledger.migrations import MIGRATIONS, migrate  # noqa: E402
from agent_magic.ledger.recorder import LedgerRecorder  # noqa: E402
from agent_magic.ledger.spool import Batch, Spool, spool_path  # noqa: E402
from agent_magic.ledger.store import LedgerStore  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture
def ledger_url(postgres_server) -> str:
    return postgres_server.create_database()


def count(url: str, sql: str, params: tuple = ()) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def start_kernel(model_server, workspace, home: Path, url: str, user: str = "alice") -> RealKernel:
    env = {
        "OPENAI_BASE_URL": model_server.base_url,
        "AGENT_MAGIC_HOME": str(home),
        "AGENT_MAGIC_MODEL": "test-model",
        "AGENT_MAGIC_LEDGER_URL": url,
        "JUPYTERHUB_USER": user,
    }
    kernel = RealKernel(env=env, cwd=workspace)
    loaded = kernel.execute("%load_ext agent_magic")
    assert loaded.status == "ok", loaded.text
    return kernel


def run_at_once(kernels: list[RealKernel], code: str | list[str]) -> list:
    codes = code if isinstance(code, list) else [code] * len(kernels)
    results: dict[int, object] = {}
    threads = [
        threading.Thread(target=lambda k=k: results.__setitem__(k, kernels[k].execute(codes[k], timeout=120)))
        for k in range(len(kernels))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[k] for k in range(len(kernels))]


def record(store: LedgerStore, turn: str, *, user: str, tokens: int = 10) -> None:
    recorder = LedgerRecorder(store, notebook="/home/shared/analysis.ipynb", user=user, host="node-1")
    for event in (
        TurnStarted("s-" + user, turn, prompt="hi", model="gpt-4.1-mini", trace_id="trace-" + turn),
        Usage("s-" + user, turn, model="gpt-4.1-mini", input_tokens=tokens, output_tokens=5, cost_usd=0.002),
        MessageAdded(
            "s-" + user, turn, message={"role": "user", "content": "hi"}, position=0, origin=MessageOrigin.PROMPT
        ),
        TurnEnded("s-" + user, turn, state=TurnState.COMPLETED),
    ):
        store.submit(lambda event=event: recorder.handle(event))


# -- many kernels ----------------------------------------------------------------------------------


def test_three_kernels_writing_at_once_lose_no_row(model_server, workspace, tmp_path, ledger_url):
    kernels = [start_kernel(model_server, workspace, tmp_path / f"home{k}", ledger_url) for k in range(3)]
    writes = (
        "from agent_magic.events import Usage\n"
        "ledger = get_ipython().magics_manager.registry['AgentMagics'].runtime.ledger\n"
        "for i in range(300):\n"
        "    ledger.handle(Usage('s-{k}', f't{{i}}', model='m', input_tokens=i, output_tokens=1))\n"
        "print('written:', ledger.store.flush())"
    )
    try:
        results = run_at_once(kernels, [writes.format(k=k) for k in range(3)])
    finally:
        for kernel in kernels:
            kernel.close()

    for result in results:
        assert result.status == "ok" and "written: True" in result.text, result.text
    assert count(ledger_url, "SELECT count(*) FROM model_calls") == 900
    for k in range(3):
        assert (
            count(ledger_url, "SELECT count(DISTINCT turn_id) FROM model_calls WHERE session_id = %s", (f"s-{k}",))
            == 300
        )


def test_a_users_day_budget_counts_the_spending_of_their_other_kernels(
    model_server, script, workspace, tmp_path, ledger_url
):
    first = start_kernel(model_server, workspace, tmp_path / "home-a", ledger_url)
    second = start_kernel(model_server, workspace, tmp_path / "home-b", ledger_url)
    try:
        for _ in range(2):
            script.add_tool_calls(("list_files", "{}"))
        script.add_text("done")
        assert first.execute("%%agent\nlist twice").status == "ok"

        second.execute('%config AgentMagic.day_budget = {"steps": 3}')
        run = second.execute("%%agent\nanything?")

        assert "stopped: daily budget of 3 model calls reached, 3 made" in run.text
        assert script.pending() == 0
    finally:
        first.close()
        second.close()


def test_two_kernels_racing_cannot_pass_the_users_day_budget_together(
    model_server, script, workspace, tmp_path, ledger_url
):
    kernels = [start_kernel(model_server, workspace, tmp_path / f"home{k}", ledger_url) for k in range(2)]
    for _ in range(30):
        script.add_tool_calls(("list_files", "{}"))
    try:
        for kernel in kernels:
            kernel.execute('%config AgentMagic.day_budget = {"steps": 7}')
        runs = run_at_once(kernels, "%%agent --max-steps 30\nkeep listing")
        for kernel in kernels:  # a read waits for the kernel's queued writes (close() kills the kernel)
            kernel.execute("import agent_magic\nagent_magic.session_totals()")
    finally:
        for kernel in kernels:
            kernel.close()

    for run in runs:
        assert "stopped: daily budget of 7 model calls reached" in run.text, run.text
    assert count(ledger_url, "SELECT count(*) FROM model_calls") == 7, "each call was held before it was made"
    assert count(ledger_url, "SELECT count(*) FROM budget_holds") == 0, "finished turns release their holds"


def test_rows_written_while_the_server_is_down_arrive_once_when_it_is_back(
    model_server, script, workspace, tmp_path, postgres_server, ledger_url
):
    kernel = start_kernel(model_server, workspace, tmp_path / "home", ledger_url)
    try:
        script.add_text("before the outage")
        assert kernel.execute("%%agent\none").status == "ok"
        assert (
            kernel.execute(
                "print(get_ipython().magics_manager.registry['AgentMagics'].runtime.ledger.store.flush())"
            ).text.strip()
            == "True"
        )
        postgres_server.stop()
        try:
            script.add_text("during the outage")
            during = kernel.execute("%%agent\ntwo")
            script.add_text("still during the outage")
            still = kernel.execute("%%agent\nthree")
        finally:
            postgres_server.start()
        script.add_text("after the outage")
        after = kernel.execute("%%agent\nfour")
        turns = kernel.execute("import agent_magic\nprint(len(agent_magic.usage()), len(agent_magic.transcript()))")
    finally:
        kernel.close()

    assert during.status == "ok" and "during the outage" in during.text
    assert still.status == "ok" and "still during the outage" in still.text and after.status == "ok"
    said = (during.text + still.text).count("is unreachable")
    assert said == 1, "the outage is said once"
    assert turns.text.splitlines()[-1].split() == ["4", "8"], turns.text
    assert (after.text + turns.text).count("is written again") == 1, "and once that it is back"
    assert count(ledger_url, "SELECT count(*) FROM model_calls") == 4
    assert count(ledger_url, "SELECT count(*) FROM messages") == 8, "every row once, none twice"
    assert count_spooled(tmp_path / "home") == 0, "nothing left waiting"


def count_spooled(home: Path) -> int:
    import sqlite3

    (spool,) = home.glob("ledger-spool-*.db")
    return sqlite3.connect(spool).execute("SELECT count(*) FROM batches").fetchone()[0]


# -- the store on PostgreSQL -----------------------------------------------------------------------


def test_migrations_racing_on_a_new_database_are_applied_once(ledger_url):
    backend = PostgresBackend(ledger_url)
    barrier = threading.Barrier(6)
    applied: list[int] = []
    errors: list[BaseException] = []

    def open_ledger() -> None:
        conn = backend.connect()
        try:
            barrier.wait()
            applied.append(migrate(conn))
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=open_ledger) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(applied) == [0] * 5 + [len(MIGRATIONS)]
    assert count(ledger_url, "SELECT count(*) FROM _migrations") == len(MIGRATIONS)


def test_a_batch_sent_again_after_its_commit_was_lost_is_written_once(tmp_path, ledger_url):
    home = tmp_path / "home"
    batch = Batch("batch-0001", (Statement("INSERT INTO meta (key, value) VALUES (?, ?)", ("resent", "1")),))
    spool = Spool(spool_path(home, masked_url(ledger_url)))
    spool.append(batch)  # spooled by a kernel that then exited
    first = LedgerStore(home, url=ledger_url)  # the next kernel sends it
    assert first.flush()
    first.close()

    spool.append(batch)  # as if the connection had dropped after the commit landed
    second = LedgerStore(home, url=ledger_url)
    assert second.flush()

    assert second.query("SELECT count(*) FROM meta WHERE key = 'resent'") == [(1,)]
    assert spool.rows() == 0
    second.close()


def test_views_and_totals_read_alike_from_postgres_and_sqlite(tmp_path, ledger_url, monkeypatch):
    from agent_magic import tool_calls, transcript, usage
    from agent_magic.ledger.totals import read_session_totals

    local, shared = LedgerStore(tmp_path / "local"), LedgerStore(tmp_path / "shared", url=ledger_url)
    for store in (local, shared):
        record(store, "t1", user="alice")
        assert store.flush()
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")

    frames = {}
    for name, url in (("sqlite", None), ("postgres", ledger_url)):
        if url:
            monkeypatch.setenv("AGENT_MAGIC_LEDGER_URL", url)
        monkeypatch.setenv("AGENT_MAGIC_HOME", str(tmp_path / "local"))
        frames[name] = [view(all_sessions=True).drop(columns="time") for view in (usage, tool_calls, transcript)]

    for from_sqlite, from_postgres in zip(frames["sqlite"], frames["postgres"], strict=True):
        assert from_sqlite.dtypes.to_dict() == from_postgres.dtypes.to_dict()
        assert from_sqlite.astype(str).to_dict("records") == from_postgres.astype(str).to_dict("records")
    assert read_session_totals(local, "s-alice") == read_session_totals(shared, "s-alice")
    local.close(), shared.close()


def test_each_user_sees_their_own_rows_and_an_admin_sees_everyones(tmp_path, ledger_url, monkeypatch):
    from agent_magic import usage

    store = LedgerStore(tmp_path / "home", url=ledger_url)
    record(store, "t-alice", user="alice", tokens=1)
    record(store, "t-bob", user="bob", tokens=2)
    assert store.flush()
    monkeypatch.setenv("AGENT_MAGIC_LEDGER_URL", ledger_url)
    monkeypatch.setenv("JUPYTERHUB_USER", "bob")

    assert usage(all_sessions=True)["input_tokens"].tolist() == [2]
    assert sorted(usage(all_sessions=True, all_users=True)["user"]) == ["alice", "bob"]
    store.close()


def test_the_admin_query_of_the_docs_runs_on_a_shared_ledger(tmp_path, ledger_url):
    store = LedgerStore(tmp_path / "home", url=ledger_url)
    record(store, "t-alice", user="alice", tokens=100)
    record(store, "t-bob", user="bob", tokens=300)
    assert store.flush()
    store.close()
    page = (DOCS / "team-ledger.md").read_text()
    section = page.split("## An admin query", 1)[1]
    sql = re.findall(r"```sql\n(.*?)```", section, flags=re.S)[0]

    with psycopg.connect(ledger_url) as conn:
        rows = conn.execute(sql).fetchall()

    assert [(user, calls, tokens) for user, calls, tokens, *_ in rows] == [("bob", 1, 305), ("alice", 1, 105)]
