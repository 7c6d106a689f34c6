"""The JupyterLab panel <-> the sealbox server extension on the Jupyter server (`/sealbox/api/...`).

The browser talks only to the Jupyter server; the extension answers with these Structs and decodes the
panel's requests through them. No answer has a value field: a new secret's value crosses once, in
`LabSecretCreate`, from the panel to the extension and on to sealbox, and is never sent back.
Like every answer module this imports only msgspec and the standard library.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from sealbox.protocol.base import Answer, Message, Time

# Bounds the extension checks before it calls sealbox (which checks its own rules again): a request that
# breaks them is a 400 from the Jupyter server, never a traceback.
_NAME = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_NOTEBOOK = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
_VALUE = Annotated[str, msgspec.Meta(min_length=1, max_length=65536)]
_DESCRIPTION = Annotated[str, msgspec.Meta(max_length=1024)]


class LabSecret(Answer, frozen=True, kw_only=True):
    """One secret the person may use, and whether (and under which name) this session holds it."""

    ref: Annotated[str, msgspec.Meta(description="owner/name")]
    name: str
    owner: str
    access: Annotated[str, msgspec.Meta(description="owner, manage, write or use")]
    kind: str
    description: str
    expires_at: Time | None
    project: str | None = None
    shared_by: Annotated[str | None, msgspec.Meta(description="the owner, when it is shared with you")] = None
    held_as: Annotated[
        str | None, msgspec.Meta(description='the name get_secret("...") takes in this session, if held')
    ] = None


class LabHeld(Answer, frozen=True, kw_only=True):
    """A secret this session holds (from the folder's manifest: names and kinds only)."""

    name: Annotated[str, msgspec.Meta(description='what get_secret("...") takes')]
    secret: Annotated[str, msgspec.Meta(description="the secret it came from (owner/name or name)")]
    kind: str


class LabSecrets(Answer, frozen=True, kw_only=True):
    """`GET /sealbox/api/secrets`: what the person may use, and what this session holds."""

    user: str | None
    connected: Annotated[bool, msgspec.Meta(description="whether sealbox answered")]
    problem: Annotated[str, msgspec.Meta(description="why the list is empty, for the panel to show")] = ""
    session_id: str | None
    secrets: list[LabSecret]
    held: list[LabHeld]


class LabSwitches(Answer, frozen=True, kw_only=True):
    """`GET|PUT /sealbox/api/switches`: the names switched off for one notebook (the rest are on)."""

    notebook: str
    off: list[str]


class LabSwitchSet(Message, frozen=True, kw_only=True):
    """`PUT /sealbox/api/switches`: switch `name` on or off for `notebook` (the kernel's JPY_SESSION_NAME)."""

    notebook: _NOTEBOOK
    name: _NAME
    on: bool


class LabSecretCreate(Message, frozen=True, kw_only=True):
    """`POST /sealbox/api/secrets`: a new generic secret of the person's, its value typed once."""

    name: _NAME
    value: _VALUE = msgspec.field()
    description: _DESCRIPTION = ""

    def __repr__(self) -> str:  # the value stays out of logs and tracebacks
        return f"LabSecretCreate(name={self.name!r})"
