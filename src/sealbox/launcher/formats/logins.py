"""Logins that clients look up by host: PostgreSQL's pgpass, .netrc, a git credential helper, docker's
config.json."""

from __future__ import annotations

import base64
import json
import re
import shlex
from urllib.parse import unquote, urlsplit

from sealbox.domain.kinds import Kind
from sealbox.errors import BadRequest
from sealbox.launcher.formats import Place, Rendered, Source, check_text

_BARE_NETRC = re.compile(r"[\x21-\x7e]+")


def _database(source: Source, fmt: str) -> dict[str, str]:
    """A database secret's host, port, dbname, user and password (from its fields, or its postgresql://
    url)."""
    parts = source.parts()
    url = parts.get("url")
    if url is None:
        return parts
    split = urlsplit(url)
    if split.scheme not in {"postgres", "postgresql"}:
        raise BadRequest(
            f'secret "{source.ref}" holds a url that is not postgresql://;'
            f" --as {fmt} needs host and password",
            code="missing_field",
            field="host",
        )
    try:
        port = split.port
    except ValueError:
        port = None
    found = {
        "host": unquote(split.hostname or ""),
        "port": str(port or ""),
        "user": unquote(split.username or ""),
        "password": unquote(split.password or ""),
        "dbname": unquote(split.path.lstrip("/")),
    }
    return {k: v for k, v in found.items() if v}


def _pgpass_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_variables(place: Place) -> dict[str, str]:
    return {"PGPASSFILE": f"{place.folder}/pgpass"}


def netrc_variables(place: Place) -> dict[str, str]:
    return {"NETRC": f"{place.folder}/netrc"}


def docker_variables(place: Place) -> dict[str, str]:
    return {"DOCKER_CONFIG": place.folder}


def pgpass(source: Source, place: Place) -> Rendered:
    """One `host:port:dbname:user:password` line (`*` for a part the secret leaves open)."""
    if source.kind != Kind.DATABASE.value:
        raise source.refuse_kind("pgpass", "database")
    parts = _database(source, "pgpass")
    source.need("pgpass", parts, "host", "password")
    line = []
    for name in ("host", "port", "dbname", "user", "password"):
        value = parts.get(name)
        if value is None:
            line.append("*")
        else:
            line.append(_pgpass_field(check_text(source, "pgpass", name, value, spaces=True)))
    return Rendered(
        files={"pgpass": (":".join(line) + "\n").encode()},
        env=pgpass_variables(place),
        outranked_by=("PGPASSWORD",),
    )


def _login(source: Source, fmt: str) -> tuple[str, str, str]:
    """(host, user name, password or token) of a token (host and username given) or a database."""
    if source.kind == Kind.TOKEN.value:
        parts = source.parts()
        host, user, secret = source.need(fmt, parts, "host", "username", "token")
    elif source.kind == Kind.DATABASE.value and fmt == "netrc":
        parts = _database(source, fmt)
        host, user, secret = source.need(fmt, parts, "host", "user", "password")
    else:
        raise source.refuse_kind(fmt, "token" if fmt != "netrc" else "token or database")
    check_text(source, fmt, "host", host)
    check_text(source, fmt, "username", user)
    check_text(source, fmt, "token", secret, spaces=True)
    return host, user, secret


def hostname(host: str) -> str:
    """`https://host:8080/path` -> `host`: what netrc's `machine` names."""
    split = urlsplit(host if "://" in host else f"//{host}")
    return split.hostname or host


def _netrc_word(text: str) -> str:
    if _BARE_NETRC.fullmatch(text) and not text.startswith("#") and '"' not in text and "\\" not in text:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def netrc(source: Source, place: Place) -> Rendered:
    """`machine HOST login USER password TOKEN` (quoted where needed, as curl and Python read it)."""
    host, user, secret = _login(source, "netrc")
    line = f"machine {_netrc_word(hostname(host))} login {_netrc_word(user)} password {_netrc_word(secret)}\n"
    return Rendered(files={"netrc": line.encode()}, env=netrc_variables(place))


def git(source: Source, place: Place) -> Rendered:
    """A credential helper for the token's host only: it answers `get` from the folder and ignores `store`
    and `erase`. The empty helper first clears the helpers other configuration set for that host, so that
    none of them stores the token (in ~/.git-credentials, say) after a successful login."""
    host, user, secret = _login(source, "git")
    url = host.rstrip("/") if "://" in host else f"https://{host}"
    answer = f"username={user}\npassword={secret}\n".encode()
    path = shlex.quote(f"{place.folder}/credentials")
    helper = f'!f() {{ if test "$1" = get; then cat {path}; fi; }}; f'
    key = f"credential.{url}.helper"
    return Rendered(files={"credentials": answer}, git_config=((key, ""), (key, helper)))


def docker(source: Source, place: Place) -> Rendered:
    """`config.json` with one entry in `auths`: the registry, and base64 of `user:token`."""
    host, user, secret = _login(source, "docker")
    auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
    document = {"auths": {host: {"auth": auth}}}
    return Rendered(
        files={"config.json": (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()},
        env=docker_variables(place),
    )
