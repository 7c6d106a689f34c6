"""Planted credentials for `sealbox scan`'s tests: a fresh random value of each kind a data scientist
leaks most, the line of code that holds it, and notebooks, scripts, .env files and git history that
hold them. Every value is random, so each is also a canary that occurs nowhere by chance."""

from __future__ import annotations

import json
import secrets
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALNUM = string.ascii_letters + string.digits


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass(frozen=True)
class Plant:
    kind: str  # the row of the docs' table
    value: str  # what a scanner must find (for a database URL: the password)
    code: str  # a line of Python that holds it
    env: str | None  # a .env line that holds it (None: not a .env thing)
    printed: str  # what a cell printing it shows


def _pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def plants() -> list[Plant]:
    aws_id = "AKIA" + _random(string.ascii_uppercase + "234567", 16)
    # One in 32 real keys starts with / or +, which detect-secrets' keyword pattern misses in a .env
    # file (its value must start with a word character): docs/scan.md says so, the table plants the rest.
    aws_secret = _random(ALNUM, 1) + _random(ALNUM + "/+", 39)
    github = "ghp_" + _random(ALNUM, 36)
    slack = f"xoxb-{_random(string.digits, 12)}-{_random(string.digits, 13)}-{_random(ALNUM, 24)}"
    hugging = "hf_" + _random(ALNUM, 34)
    openai = "sk-proj-" + _random(ALNUM, 20) + "T3BlbkFJ" + _random(ALNUM, 20)
    password = _random(ALNUM, 18)
    url = f"postgresql://analyst:{password}@db.example.org:5432/sales"
    pem = _pem()
    return [
        Plant("AWS access key id", aws_id, f'aws_key_id = "{aws_id}"', f"AWS_ACCESS_KEY_ID={aws_id}", aws_id),
        Plant(
            "AWS secret access key",
            aws_secret,
            f'aws_secret_access_key = "{aws_secret}"',
            f"AWS_SECRET_ACCESS_KEY={aws_secret}",
            aws_secret,
        ),
        Plant("GitHub token", github, f'gh = "{github}"', f"GITHUB_TOKEN={github}", github),
        Plant("Slack token", slack, f'slack = "{slack}"', f"SLACK_TOKEN={slack}", slack),
        Plant("Hugging Face token", hugging, f'hf = "{hugging}"', f"HF_TOKEN={hugging}", hugging),
        Plant("OpenAI key", openai, f'client_key = "{openai}"', f"OPENAI_API_KEY={openai}", openai),
        Plant("password in a database URL", password, f'engine_url = "{url}"', f"DATABASE_URL={url}", url),
        Plant("PEM private key", pem, f"pem = {pem!r}", None, pem),
    ]


def notebook(cells: list[tuple[str, str | None]]) -> dict[str, Any]:
    """A Python notebook: each (source, printed) a code cell, with a stream output when printed."""
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": number,
                "id": f"cell{number}",
                "metadata": {},
                "outputs": (
                    [{"name": "stdout", "output_type": "stream", "text": printed.splitlines(keepends=True)}]
                    if printed
                    else []
                ),
                "source": source.splitlines(keepends=True),
            }
            for number, (source, printed) in enumerate(cells, start=1)
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_notebook(path: Path, cells: list[tuple[str, str | None]]) -> Path:
    path.write_text(json.dumps(notebook(cells), indent=1) + "\n")
    return path


def git(repo: Path, *args: str) -> str:
    env_args = ["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    done = subprocess.run(
        ["git", *env_args, "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def planted_tree(root: Path, found: list[Plant]) -> dict[str, Path]:
    """Each plant in a notebook cell (printed in its output, for the output count) under `code/`, in a
    checkpoint copy of it, in a script and in a .env file, one file of each per plant so that each
    place counts on its own; returns the folders."""
    folders = {name: root / name for name in ("cells", "outputs", "checkpoints", "scripts", "env")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    (folders["checkpoints"] / ".ipynb_checkpoints").mkdir()
    for number, plant in enumerate(found):
        write_notebook(folders["cells"] / f"nb{number}.ipynb", [(plant.code, None)])
        write_notebook(folders["outputs"] / f"nb{number}.ipynb", [("print(read_it())", plant.printed)])
        write_notebook(
            folders["checkpoints"] / ".ipynb_checkpoints" / f"nb{number}-checkpoint.ipynb",
            [(plant.code, None)],
        )
        (folders["scripts"] / f"job{number}.py").write_text(plant.code + "\n")
        if plant.env is not None:
            (folders["env"] / f"{number}.env").write_text(plant.env + "\n")
    return folders


def planted_history(repo: Path, found: list[Plant]) -> None:
    """A repository whose history held every plant in a notebook, removed again in a later commit."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for number, plant in enumerate(found):
        write_notebook(repo / f"nb{number}.ipynb", [(plant.code, None)])
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "analysis")
    for number in range(len(found)):
        write_notebook(repo / f"nb{number}.ipynb", [('key = get_secret("k")', None)])
    git(repo, "commit", "-q", "-am", "no keys")
