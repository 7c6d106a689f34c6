"""Server -> a probe or a load balancer: what GET /healthz and GET /readyz answer (routes/health.py)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from sealbox.protocol.base import Answer


class Ready(Answer, frozen=True, kw_only=True):
    status: Annotated[
        str,
        msgspec.Meta(
            description="ok; degraded (ready, but the keeper is unavailable: launches fail); or unready (503)"
        ),
    ]
    database: Annotated[str, msgspec.Meta(description="ok or unavailable")]
    keeper: Annotated[
        str, msgspec.Meta(description="ok or unavailable (reported; it does not make the replica unready)")
    ]
    migrations: Annotated[
        str,
        msgspec.Meta(
            description="ok (the schema is at this server's newest revision), behind, ahead, or unknown "
            "(the database cannot be read)"
        ),
    ]
    failed: Annotated[
        list[str], msgspec.Meta(description="the parts that make the replica unready: database, migrations")
    ]


class Health(Answer, frozen=True, kw_only=True):
    status: Annotated[
        str, msgspec.Meta(description="ok, degraded (reads work; writes or the keeper do not) or unavailable")
    ]
    database: Annotated[str, msgspec.Meta(description="reads: ok or unavailable")]
    database_write: Annotated[
        str, msgspec.Meta(description="writes: ok, storage_full or database_unavailable")
    ]
    keeper: Annotated[str, msgspec.Meta(description="ok or unavailable")]
