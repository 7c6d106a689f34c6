"""What crosses the wire to the keeper: one outer layer and the ids of its row."""

from __future__ import annotations

import pytest

from sealbox.domain.keeper import OuterLayer


def test_outer_layer_record() -> None:
    layer = OuterLayer(secret_id="s1", version=2, owner_id="u1", outer=b"\x02" + bytes(60))
    assert (layer.secret_id, layer.version, layer.owner_id) == ("s1", 2, "u1")
    with pytest.raises(AttributeError):
        layer.version = 3  # type: ignore[misc]
