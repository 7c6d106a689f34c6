"""Launch benchmark: from `sealbox run` to the command starting, with 1, 10 and 100 secrets.

Run: `.venv/bin/python -m bench.launch [--quick]`. Prints markdown tables, writes
bench/results/launch.json. Everything on 127.0.0.1.

Rows, each beside its baseline from the same run:
- launch latency p50/p99 split into server (create session + redeem), keeper (ticket check,
  outer layers off, wrapped for the session) and session side (assemble + write the 0400 files
  on /dev/shm), measured in-process with the launcher's own code;
- a whole `sealbox run -- true` process (interpreter start-up included), p50;
- launches per second at concurrency 16, 20 secrets each;
- OpenBao KV v2: the same 100 secrets read one by one and 16 at a time by an HTTP client
  (what a launcher built on OpenBao would do), on `bao server -dev`;
- the keeper's cost per secret beside one RSA-2048-OAEP decrypt.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from bench.openbao import bao_dev, find_bao
from bench.stack import sealbox_instance
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sealbox.crypto.sealing import keeper_wrap, seal_to_keeper
from sealbox.crypto.session_keys import SessionKeyPair, SigningKey, VerifyKeys, outer_digest
from sealbox.crypto.wrapping import outer_context
from sealbox.errors import SealboxError
from sealbox.keeper.keys import KeyDirectory
from sealbox.keeper.sessions import SessionAuthority
from sealbox.launcher.memory import private_root
from sealbox.launcher.redeem import redeem
from sealbox.launcher.run import folder_contents
from sealbox.launcher.spool import SecretFolder
from sealbox.protocol.base import decode
from sealbox.protocol.keeper import SessionOpenRequest
from sealbox.sdk.client import Client

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (1, 10, 100)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _one_launch(url: str, token: str, keeper_url: str, names: list[str], *, write: bool) -> dict[str, float]:
    """Create a session, redeem it, write the folder; times in ms."""
    t0 = time.perf_counter()
    with Client(url, token) as c:  # as `sealbox run`: one keep-alive connection, token left out to redeem
        launch = c.call("POST", "/api/v1/sessions", json={"secrets": [{"name": n, "file": n} for n in names]})
        t_created = time.perf_counter()
        delivery = redeem(
            c.http,
            session_id=launch["session"]["id"],
            credential=launch["session_credential"],
            keeper_url=keeper_url,
        )
        t_redeemed = time.perf_counter()
        folder = None
        if write:
            folder = SecretFolder.create(private_root() / f"bench-{os.getpid()}-{secrets.token_hex(4)}")
            files, manifest = folder_contents(delivery.items)
            folder.write(files, manifest)
        t_ready = time.perf_counter()
        if folder is not None:
            folder.remove()
        c.call("DELETE", f"/api/v1/sessions/{launch['session']['id']}")
    create_ms = (t_created - t0) * 1000
    return {
        "total_ms": (t_ready - t0) * 1000,
        "server_ms": create_ms + delivery.server_ms,
        "keeper_ms": delivery.keeper_ms,
        "session_ms": delivery.session_ms + (t_ready - t_redeemed) * 1000,
    }


def _latency_rows(url: str, token: str, keeper_url: str, names: list[str], reps: int) -> list[dict[str, Any]]:
    rows = []
    for n in SIZES:
        _one_launch(url, token, keeper_url, names[:n], write=True)  # warm-up
        samples = [_one_launch(url, token, keeper_url, names[:n], write=True) for _ in range(reps)]
        totals = [s["total_ms"] for s in samples]
        rows.append(
            {
                "secrets": n,
                "reps": reps,
                "p50_ms": statistics.median(totals),
                "p99_ms": _pct(totals, 0.99),
                "server_p50_ms": statistics.median(s["server_ms"] for s in samples),
                "keeper_p50_ms": statistics.median(s["keeper_ms"] for s in samples),
                "session_p50_ms": statistics.median(s["session_ms"] for s in samples),
            }
        )
    return rows


def _process_rows(inst_url: str, token: str, reps: int) -> list[dict[str, Any]]:
    """Whole `sealbox run -- true` processes: what a person waits for, interpreter start included."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(f'url = "{inst_url}"\ntoken = "{token}"\n')
        config.chmod(0o600)
        env = {**os.environ, "SEALBOX_CONFIG": str(config)}
        for n in (0, *SIZES):
            args = [sys.executable, "-m", "sealbox", "run"]
            for i in range(n):
                args += ["--secret", f"s{i:03d}"]
            if n == 0:
                args = [sys.executable, "-c", "import sealbox.cli.main"]  # the baseline: start-up alone
            else:
                args += ["--", "true"]
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
                times.append((time.perf_counter() - t0) * 1000)
            rows.append({"secrets": n, "p50_ms": statistics.median(times), "reps": reps})
    return rows


def _throughput(url: str, token: str, keeper_url: str, names: list[str], seconds: float) -> dict[str, Any]:
    stop = time.monotonic() + seconds
    done = [0]
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
        while time.monotonic() < stop:
            try:
                _one_launch(url, token, keeper_url, names[:20], write=False)
                with lock:
                    done[0] += 1
            except (SealboxError, OSError):
                with lock:
                    errors[0] += 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return {"concurrency": 16, "secrets_each": 20, "launches_per_s": done[0] / elapsed, "errors": errors[0]}


def _openbao_rows(reps: int) -> dict[str, Any] | None:
    if find_bao() is None:
        return None
    with bao_dev() as bao:
        with bao.client() as c:
            for i in range(100):
                c.post(
                    f"/v1/secret/data/s{i:03d}", json={"data": {"value": secrets.token_hex(32)}}
                ).raise_for_status()

            def read(i: int, client: httpx.Client) -> None:
                client.get(f"/v1/secret/data/s{i:03d}").raise_for_status()

            sequential = []
            for _ in range(reps):
                t0 = time.perf_counter()
                for i in range(100):
                    read(i, c)
                sequential.append((time.perf_counter() - t0) * 1000)
        parallel = []
        with bao.client() as c, ThreadPoolExecutor(16) as pool:
            for _ in range(reps):
                t0 = time.perf_counter()
                list(pool.map(lambda i: read(i, c), range(100)))
                parallel.append((time.perf_counter() - t0) * 1000)
    return {
        "one_by_one_p50_ms": statistics.median(sequential),
        "one_by_one_p99_ms": _pct(sequential, 0.99),
        "sixteen_at_a_time_p50_ms": statistics.median(parallel),
        "sixteen_at_a_time_p99_ms": _pct(parallel, 0.99),
    }


def _keeper_cost() -> dict[str, float]:
    """The keeper's work per secret in a launch (in-process), beside one RSA-2048-OAEP decrypt."""
    with tempfile.TemporaryDirectory() as tmp:
        key_dir = KeyDirectory(Path(tmp) / "keeper")  # as the keeper holds its keys: a directory of them
        keys = key_dir.keys
        signing = SigningKey.generate()
        server_pub = Path(tmp) / "server.pub"
        server_pub.write_text(signing.public_text())
        VerifyKeys.from_text(server_pub.read_text(), source="bench")
        authority = SessionAuthority(key_dir, server_pub)
        session = SessionKeyPair.generate()

        def body(n: int) -> dict[str, Any]:
            items = []
            for i in range(n):
                ctx = outer_context(secret_id=f"s{i}", version=1, owner_id="u")
                outer = keeper_wrap(keys.wrap, b"x" * 100, ctx)
                items.append(
                    {
                        "secret_id": f"s{i}",
                        "version": 1,
                        "owner_id": "u",
                        "outer": base64.b64encode(outer).decode(),
                        "sha": outer_digest(outer),
                    }
                )
            ticket = signing.sign_ticket(
                {
                    "session_id": "bench",
                    "ticket_id": secrets.token_hex(8),
                    "exp": int(time.time()) + 3600,
                    "recipient": base64.b64encode(session.public_bytes()).decode(),
                    "items": [
                        {"secret_id": i["secret_id"], "version": 1, "owner_id": "u", "outer_sha256": i["sha"]}
                        for i in items
                    ],
                }
            )
            return {"ticket": ticket, "items": items}

        def raw(n: int) -> bytes:
            # As the keeper gets it: JSON bytes, decoded into the protocol's message inside the timed call.
            request = body(n)
            items = [{k: v for k, v in i.items() if k != "sha"} for i in request["items"]]
            return json.dumps({"ticket": request["ticket"], "items": items}).encode()

        def per_launch_us(n: int, number: int) -> float:
            bodies = [raw(n) for _ in range(number)]  # a ticket is served once: one per call
            it = iter(bodies)
            return (
                min(
                    timeit.repeat(
                        lambda: authority.serve(decode(next(it), SessionOpenRequest)),
                        number=number // 5,
                        repeat=5,
                    )
                )
                / (number // 5)
                * 1e6
            )

        one = per_launch_us(1, 500)
        hundred = per_launch_us(100, 100)
        # The same inner layers still sealed (HPKE) as written, before the keeper converted them.
        public = keys.private.public()
        ctx = outer_context(secret_id="s", version=1, owner_id="u")
        sealed = seal_to_keeper(public, b"x" * 100, ctx)
        from sealbox.crypto.sealing import open_sealed

        hpke_us = (
            min(timeit.repeat(lambda: open_sealed(keys.private, sealed, ctx), number=500, repeat=5))
            / 500
            * 1e6
        )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    rsa_ct = rsa_key.public_key().encrypt(secrets.token_bytes(32), oaep)
    rsa_us = min(timeit.repeat(lambda: rsa_key.decrypt(rsa_ct, oaep), number=300, repeat=5)) / 300 * 1e6
    per_secret = (hundred - one) / 99
    return {
        "keeper_launch_1_us": one,
        "keeper_launch_100_us": hundred,
        "keeper_per_secret_us": per_secret,
        "keeper_per_secret_unconverted_hpke_us": hpke_us,
        "rsa2048_oaep_decrypt_us": rsa_us,
        "ratio_per_secret_to_rsa": per_secret / rsa_us,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, for a smoke run")
    args = parser.parse_args()
    reps = 10 if args.quick else 60
    results: dict[str, Any] = {"quick": args.quick}
    with sealbox_instance("launch") as inst, inst.server(workers=2) as server:
        names = [f"s{i:03d}" for i in range(100)]
        with inst.client(server.url) as c:
            for name in names:
                c.post(
                    "/api/v1/secrets", json={"name": name, "value": secrets.token_hex(32)}
                ).raise_for_status()
        time.sleep(1.0)  # let the keeper convert the new outer layers, as it does in steady state
        results["latency"] = _latency_rows(server.url, inst.admin_token, inst.keeper_url, names, reps)
        results["throughput"] = _throughput(
            server.url, inst.admin_token, inst.keeper_url, names, 5.0 if args.quick else 20.0
        )
        results["process"] = _process_rows(server.url, inst.admin_token, 3 if args.quick else 10)
    results["openbao"] = _openbao_rows(reps)
    results["keeper_cost"] = _keeper_cost()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "launch.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _print(r: dict[str, Any]) -> None:
    print("\n### Launch: from request to files ready (in-process launcher, server with 2 workers)\n")
    print("| secrets | p50 ms | p99 ms | server p50 | keeper p50 | session side p50 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in r["latency"]:
        print(
            f"| {row['secrets']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['server_p50_ms']:.1f} | "
            f"{row['keeper_p50_ms']:.1f} | {row['session_p50_ms']:.1f} |"
        )
    ob = r["openbao"]
    if ob:
        print(
            f"\nOpenBao KV v2 (dev), the same 100 secrets by HTTP: one by one p50 {ob['one_by_one_p50_ms']:.1f} ms "
            f"(p99 {ob['one_by_one_p99_ms']:.1f}); 16 at a time p50 {ob['sixteen_at_a_time_p50_ms']:.1f} ms "
            f"(p99 {ob['sixteen_at_a_time_p99_ms']:.1f})"
        )
    else:
        print("\nOpenBao: the bao binary was not found; comparison skipped (bench/install.sh installs it)")
    t = r["throughput"]
    print(
        f"\nLaunches per second at concurrency 16, 20 secrets each: {t['launches_per_s']:.1f} "
        f"({t['errors']} errors)"
    )
    print("\n| whole `sealbox run -- true` process | p50 ms |\n|---|---:|")
    for row in r["process"]:
        label = (
            "interpreter + CLI import only (baseline)" if row["secrets"] == 0 else f"{row['secrets']} secrets"
        )
        print(f"| {label} | {row['p50_ms']:.0f} |")
    k = r["keeper_cost"]
    print(
        f"\nKeeper per secret: {k['keeper_per_secret_us']:.1f} us (converted outer layers; "
        f"{k['keeper_per_secret_unconverted_hpke_us']:.1f} us for a still-sealed HPKE layer) vs RSA-2048-OAEP "
        f"decrypt {k['rsa2048_oaep_decrypt_us']:.1f} us: ratio {k['ratio_per_secret_to_rsa']:.3f}"
    )


if __name__ == "__main__":
    main()
