"""sealbox.integrations runs inside session pods: it may use the SDK, the launcher, crypto and domain, and
must never reach the database, the services, the server or the keeper's own modules: the keeper's client
(`sealbox.keeper.client`, an HTTP client the redemption calls) is all of the keeper it may import."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

FORBIDDEN = [
    "sealbox.store",
    "sealbox.services",
    "sealbox.server",
    "sealbox.keeper.app",
    "sealbox.keeper.keys",
    "sealbox.keeper.process",
    "sealbox.keeper.sessions",
    "sealbox.cli",
    "sqlalchemy",
    "fastapi",
    "kubernetes",  # imported lazily, in the KubeSpawner hook only: an init container needs none of it
]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("sealbox", include_external_packages=True)


@pytest.mark.parametrize("forbidden", FORBIDDEN)
def test_integrations_never_import(graph: grimp.ImportGraph, forbidden: str) -> None:
    if forbidden == "kubernetes":
        # Lazy imports (inside functions) are in the graph too: allow exactly the hook's.
        importers = {
            m
            for m in graph.find_modules_that_directly_import(forbidden)
            if m.startswith("sealbox.integrations")
        }
        assert importers == {"sealbox.integrations.kubernetes.spawner_hook", "sealbox.integrations.kubeapply"}
        details = graph.get_import_details(
            importer="sealbox.integrations.kubernetes.spawner_hook", imported=forbidden
        )
        assert [d["line_contents"] for d in details] == ["from kubernetes.client import ApiClient"]
        # The apply mode (`sealbox kube ... --apply`) imports the client only inside its functions (or for
        # type checking): importing the module costs nothing in a pod.
        import sealbox.integrations.kubeapply as apply

        lines = Path(apply.__file__).read_text().splitlines()
        details = graph.get_import_details(importer="sealbox.integrations.kubeapply", imported=forbidden)
        assert details
        assert all(lines[d["line_number"] - 1].startswith("    ") for d in details), details
        return
    chain = graph.find_shortest_chain(importer="sealbox.integrations", imported=forbidden, as_packages=True)
    assert chain is None, chain
