"""The program an `aws-process` profile runs (`credential_process`): prints the key pair in the folder.

`python -I -m sealbox.launcher.formats.aws_process FILE`: reads FILE (the folder's `process.json`, through
its `..data` link, so a refresh swap is read at the next call) and prints it with an `Expiration`
LIFETIME from now. botocore then holds `RefreshableCredentials` and runs this again before that time
(15 minutes before, by default), so a replaced key reaches a running client within minutes. Only the
standard library: it runs at every refresh.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

LIFETIME = timedelta(minutes=20)


def answer(text: str, *, now: datetime) -> str:
    """The JSON botocore reads: the folder's document plus an expiry."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("Version") != 1:
        raise ValueError("not a credential_process document")
    data["Expiration"] = (now + LIFETIME).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(data)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m sealbox.launcher.formats.aws_process FILE\n")
        return 2
    try:
        with open(argv[0], encoding="utf-8") as source:
            text = source.read()
        sys.stdout.write(answer(text, now=datetime.now(UTC)))
    except (OSError, ValueError) as exc:
        # The session's folder is gone (the session ended) or unreadable: say which, never what it held.
        reason = exc.strerror if isinstance(exc, OSError) else "not a credential_process document"
        sys.stderr.write(f"sealbox: cannot read the session's AWS key at {argv[0]}: {reason}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
