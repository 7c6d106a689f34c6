"""What the keyed audit chain costs on the write path, in-process on a SQLite file (no HTTP).

- one record's tag: HMAC-SHA256 under the chain key vs the plain SHA-256 it replaced;
- one checkpoint advance (lock file, read, tag, write, fsync, rename) of ``audit.head``;
- whole secret creates through ``SecretService`` (one audit record each), with the checkpoint file and
  without it (tags only), sequential.

Run from the repo root: ``.venv/bin/python -m bench.audit_chain [--creates N]``. Prints a table and
writes ``bench/results/audit_chain.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sealbox.crypto.chain import ChainKeys
from sealbox.crypto.keyring import Keyring
from sealbox.crypto.sealing import PrivateKeySet
from sealbox.domain.kinds import Kind
from sealbox.domain.principals import Principal
from sealbox.services.keys import ServerKeys, ensure_signing_key
from sealbox.services.secrets import Limits, SecretService, SecretValue
from sealbox.services.users import create_user
from sealbox.store.audit_anchor import CheckpointFile, flush_checkpoints
from sealbox.store.audit_chain import install_audit_chain
from sealbox.store.database import Database

RESULTS = Path(__file__).resolve().parent / "results" / "audit_chain.json"
MESSAGE = (b"0" * 64) + b"\n" + json.dumps({"action": "secret.create", "detail": "kind=generic" * 4}).encode()


def per_call_us(fn: object, n: int) -> float:
    assert callable(fn)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def creates(folder: Path, *, checkpoint: bool, n: int) -> list[float]:
    """Milliseconds per create, one after another, each in its own write transaction."""
    master = Keyring.generate()
    keys = ServerKeys(
        master=master,
        keeper_public=PrivateKeySet.generate().public(),
        signing=ensure_signing_key(folder / "signing.key"),
    )
    db = Database.open(f"sqlite+pysqlite:///{folder / 'sealbox.db'}")
    try:
        install_audit_chain(db, master, data_dir=folder if checkpoint else None)
        service = SecretService(db, keys, Limits(max_value_bytes=64 * 1024, versions_kept=10))
        now = datetime.now(UTC)
        user = create_user(db, master, name="bench", is_admin=False, now=now, requested_by=None)
        who = Principal(user=user, token_id=None, client_addr="127.0.0.1")
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            service.create(
                who,
                name=f"s{i}",
                kind=Kind.GENERIC,
                value=SecretValue(text="x" * 64),
                description="",
                expires_at=None,
                now=now,
            )
            times.append((time.perf_counter() - t0) * 1000)
        return times
    finally:
        flush_checkpoints(db.engine)
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=400)
    args = parser.parse_args()
    keys = ChainKeys.derive(Keyring.generate())
    results: dict[str, float] = {
        "sha256_us": per_call_us(lambda: hashlib.sha256(MESSAGE).hexdigest(), 50_000),
        "hmac_tag_us": per_call_us(lambda: keys.tag(MESSAGE), 50_000),
    }
    with tempfile.TemporaryDirectory() as tmp:
        # Every record "in the chain" carries the head advanced to: the file's own cost, without the lookup.
        file = CheckpointFile(Path(tmp) / "audit.head", keys, lambda ids: dict.fromkeys(ids, "ab" * 32))
        counter = iter(range(1, 10**9))
        results["checkpoint_advance_us"] = per_call_us(lambda: file.advance(next(counter), "ab" * 32), 500)
    for label, checkpoint in (("tags_only", False), ("tags_and_checkpoint", True)):
        runs = []
        for _ in range(2):  # alternate warm runs; keep the better median
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(statistics.median(creates(Path(tmp), checkpoint=checkpoint, n=args.creates)))
        results[f"create_p50_ms_{label}"] = min(runs)
    print("| measure | value |\n| --- | --- |")
    for key, value in results.items():
        print(f"| {key} | {value:.2f} |")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
