"""Upgrades with people using it (issue 14): release N and N+1 of the server on one PostgreSQL during
the migration, both serving.

Release N is this repository's last first-parent commit before the newest migration was added, taken
from git history (`git archive`) and run from its own `src` on PYTHONPATH in the same virtualenv. It
bootstraps a fresh database at its own head and serves (with its own keeper) while this release's
code applies the new migration (expand only, docs/operations.md "Upgrades"); then this release's
server starts on the same database beside it. Writes on either are read on the other, launches work
through both, nothing fails meanwhile, and release N, restarted, refuses the newer schema in one line.
Skipped where the history is not there (a shallow clone, a source archive).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from sealbox.store.engine import alembic_config, migrate
from tests.support.canaries import make_canary
from tests.support.postgres import fresh_database
from tests.support.processes import Keeper, Stack, base_env, free_port, sealbox_cmd
from tests.support.replicas import copy_key_dir
from tests.support.rotation import Traffic
from tests.support.writes import Ledger, values_through_launch

pytestmark = [pytest.mark.slow, pytest.mark.postgres]  # three server starts, a keeper, a bootstrap

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = "src/sealbox/store/migrations/versions"

BOOTSTRAP = """
import sys
from pathlib import Path
from sealbox.cli.processes import install_keeper_public_key, install_server_verify_key
from sealbox.cli.up import bootstrap
from sealbox.config import ServerSettings
data, keeper_dir, keeper_url, url = sys.argv[1:]
settings = ServerSettings(data_dir=Path(data), database_url=url)
Path(data).mkdir(mode=0o700)
install_keeper_public_key(keeper_url=keeper_url, keeper_dir=Path(keeper_dir),
                          target=settings.resolved_keeper_public_key_path)
print(bootstrap(settings))
install_server_verify_key(source=settings.resolved_signing_key_path.with_suffix(".pub"),
                          keeper_dir=Path(keeper_dir))
"""


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else ""


def _previous_release(target: Path) -> tuple[str, str, str]:
    """Release N's src under `target`; (its commit, its newest revision, this release's newest)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head() or ""
    down = script.get_revision(head).down_revision if head else None
    if shutil.which("git") is None or not _git("rev-parse", "HEAD"):
        pytest.skip("no git history here (a source archive): release N cannot be taken from it")
    if _git("rev-parse", "--is-shallow-repository") == "true":
        pytest.skip("a shallow clone: release N is not in its history (fetch with --unshallow)")
    files = sorted((ROOT / VERSIONS).glob(f"{head}_*.py"))
    added = _git("log", "--first-parent", "--diff-filter=A", "--format=%H", "--", *map(str, files))
    if not isinstance(down, str) or not added:
        pytest.skip(f"the newest migration {head} is not committed yet, or has no previous one")
    old = _git("rev-parse", added.splitlines()[-1] + "^1")
    listing = _git("ls-tree", "--name-only", old, VERSIONS + "/")
    assert any(Path(f).name.startswith(f"{down}_") for f in listing.splitlines()), listing
    assert not any(Path(f).name.startswith(f"{head}_") for f in listing.splitlines()), listing
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", old, "src"], capture_output=True, check=True, timeout=120
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return old, down, head


def _revision(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def _release_n_stack(tmp_path: Path, url: str, old_src: Path) -> Stack:
    """Release N's keeper running and its data dir bootstrapped (schema at its head); server not yet."""
    env = {"PYTHONPATH": str(old_src)}
    keeper = Keeper(
        dir=tmp_path / "keeper",
        url=f"tcp://127.0.0.1:{free_port()}",
        log=tmp_path / "keeper.log",
        settings=env,
    )
    keeper.start()
    done = subprocess.run(
        [*sealbox_cmd()[:1], "-c", BOOTSTRAP, str(tmp_path / "data-n"), str(keeper.dir), keeper.url, url],
        env=base_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    port = free_port()
    return Stack(
        data_dir=tmp_path / "data-n",
        keeper=keeper,
        url=f"http://127.0.0.1:{port}",
        port=port,
        log=tmp_path / "server-n.log",
        database_url=url,
        admin_token=done.stdout.strip().splitlines()[-1],
        settings=env,
    )


def _write(stack: Stack, ledger: Ledger, name: str) -> None:
    value = make_canary(name)
    with stack.client() as c:
        r = c.post("/api/v1/secrets", json={"name": name, "value": value})
        assert r.status_code == 201, r.text
    ledger.ack(name, value)


def _reads_all(stack: Stack, ledger: Ledger) -> None:
    with stack.client() as c:
        listed = c.get("/api/v1/secrets")
        assert listed.status_code == 200, listed.text
        names = {s["name"] for s in listed.json()["items"]}
    assert set(ledger.acked) <= names, set(ledger.acked) - names
    stored = values_through_launch(stack, sorted(ledger.acked)[:40])
    assert ledger.lost(stored) == [] and len(stored) == min(40, len(ledger.acked))


def test_release_n_and_n_plus_1_serve_one_postgres_through_the_migration(tmp_path: Path) -> None:
    old_src = tmp_path / "release-n"
    _, old_head, head = _previous_release(old_src)
    with fresh_database() as url:
        old = _release_n_stack(tmp_path, url, old_src / "src")
        new: Stack | None = None
        try:
            assert _revision(url) == old_head, "release N bootstraps at its own head"
            old.start_server()
            ledger = Ledger()
            for i in range(5):
                _write(old, ledger, f"before{i}")
            traffic = Traffic(old, writers=2)
            traffic.start()
            try:
                time.sleep(1.0)
                engine = create_engine(url)
                try:
                    migrate(engine)  # this release's code applies its migration under release N's feet
                finally:
                    engine.dispose()
                assert _revision(url) == head
                time.sleep(1.0)
                copy_key_dir(old.data_dir, tmp_path / "data-n1")  # a second replica's copy of the keys
                port = free_port()
                new = Stack(
                    data_dir=tmp_path / "data-n1",
                    keeper=old.keeper,
                    url=f"http://127.0.0.1:{port}",
                    port=port,
                    log=tmp_path / "server-n1.log",
                    database_url=url,
                    admin_token=old.admin_token,
                )
                new.start_server()
                time.sleep(1.0)
            finally:
                traffic.finish()
            assert traffic.failures == [], traffic.failures[:5]
            assert traffic.ops > 10

            for i in range(3):
                _write(old, ledger, f"from-n{i}")
                _write(new, ledger, f"from-n1-{i}")
            for name, value in traffic.ledger.acked.items():
                ledger.ack(name, value)
            _reads_all(old, ledger)
            _reads_all(new, ledger)

            old.stop_server()
            refused = subprocess.run(
                sealbox_cmd(
                    "server", "--host", "127.0.0.1", "--port", str(old.port), "--keeper-url", old.keeper.url
                ),
                env=old.env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert refused.returncode != 0
            assert refused.stderr.splitlines() == [
                f"error: the database's schema is at revision {head}, which this sealbox does not know "
                f"(its newest is {old_head}): a newer sealbox migrated it; run that release or a later one"
            ], refused.stderr
            _reads_all(new, ledger)  # release N+1 goes on alone
        finally:
            if new is not None:
                new.stop_server()
            old.stop_server()
            old.keeper.stop()
