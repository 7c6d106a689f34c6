"""The client formats a session may write a secret in (`sealbox run --as FORMAT`), and the kinds each takes.

Names only: the renderers are the session side's (launcher/formats/); the web start page offers the same
choice from this list when it builds a `sealbox run` command.
"""

from __future__ import annotations

from collections.abc import Mapping

from sealbox.domain.kinds import Kind

FORMAT_KINDS: Mapping[str, tuple[Kind, ...]] = {
    "aws": (Kind.AWS, Kind.AWS_ROLE),  # an aws-role is delivered as the aws credential minted from it
    "aws-process": (Kind.AWS, Kind.AWS_ROLE),
    "gcp": (Kind.GCP,),
    "pgpass": (Kind.DATABASE,),
    "netrc": (Kind.TOKEN, Kind.DATABASE),
    "ssh": (Kind.SSH_KEY,),
    "git": (Kind.TOKEN,),
    "docker": (Kind.TOKEN,),
}
FORMATS: tuple[str, ...] = tuple(FORMAT_KINDS)


def formats_for_kind(kind: Kind) -> tuple[str, ...]:
    """The formats a secret of `kind` may be written in (whether it has every field they need shows when
    the session side renders it)."""
    return tuple(name for name, kinds in FORMAT_KINDS.items() if kind in kinds)
