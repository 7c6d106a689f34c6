"""`sealbox admin kms wrap|unwrap FILE...`: key files wrapped by OpenBao/Vault Transit, or plain again.

`wrap` encrypts each key file under a Transit key (a derived one: the file's name is its purpose) and
replaces it, atomically, by a file that names the Transit key and the token file and holds only the
ciphertext; it first checks that the ciphertext opens again. `unwrap` does the reverse. The token is read
from a file (never an option or an environment value of sealbox's). Wrap the server's master.key with the
server's Transit key and token, and the keeper's keeper.key and wrap.key with the keeper's (docs/openbao.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from sealbox.crypto.keyring import decode_key_lines, is_wrapped, read_private_file, write_private_file
from sealbox.errors import ConfigError

app = typer.Typer(help="Key files wrapped by OpenBao/Vault Transit (docs/openbao.md).", no_args_is_help=True)

Files = Annotated[list[Path], typer.Argument(help="key files: master.key, or keeper.key and wrap.key")]


@app.command("wrap")
def wrap(
    files: Files,
    transit_key: Annotated[str, typer.Option("--transit-key", help="the Transit key (derived=true)")],
    token_file: Annotated[Path, typer.Option("--token-file", help="a 0600 file holding the token")],
    addr: Annotated[
        str | None, typer.Option(help="OpenBao's address; default $BAO_ADDR or $VAULT_ADDR")
    ] = None,
    mount: Annotated[str, typer.Option(help="the Transit mount")] = "transit",
    ca_cert: Annotated[Path | None, typer.Option("--ca-cert", help="a CA file for OpenBao's TLS")] = None,
) -> None:
    """Wrap key files under an OpenBao Transit key; each then opens only through OpenBao."""
    from sealbox.openbao.transit import install, unwrap_text, wrap_text

    address = addr or os.environ.get("BAO_ADDR") or os.environ.get("VAULT_ADDR")
    if not address:
        raise ConfigError("give --addr, or set BAO_ADDR (or VAULT_ADDR)")
    install()
    for path in files:
        text = read_private_file(path)
        if is_wrapped(text):
            typer.echo(f"{path}: wrapped already")
            continue
        decode_key_lines(text, source=str(path))  # a key file, not something else
        wrapped = wrap_text(
            text,
            addr=address,
            mount=mount,
            key=transit_key,
            token_file=token_file.resolve(),
            purpose=path.name,
            ca_cert=ca_cert.resolve() if ca_cert else None,
        )
        if unwrap_text(wrapped, source=str(path)) != text:
            raise ConfigError(f"{path}: the wrapped key did not open to the same key; left as it was")
        write_private_file(path, wrapped, replace=True)
        typer.echo(f"{path}: wrapped by {mount}/keys/{transit_key}")


@app.command("unwrap")
def unwrap(files: Files) -> None:
    """Make wrapped key files plain key files again (through OpenBao, which must be unsealed)."""
    from sealbox.openbao.transit import unwrap_text

    for path in files:
        text = read_private_file(path)
        if not is_wrapped(text):
            typer.echo(f"{path}: not wrapped")
            continue
        write_private_file(path, unwrap_text(text, source=str(path)), replace=True)
        typer.echo(f"{path}: unwrapped")
