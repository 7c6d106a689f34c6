"""sealbox for JupyterHub: people tick the secrets their server gets; the hub acts for them with a service
account. In `jupyterhub_config.py`:

    from sealbox.integrations.jupyterhub import configure
    configure(c, url="http://127.0.0.1:8480", token_file="/etc/jupyterhub/sealbox-token", spawner="local")

The spawner classes are in `.local_spawner` (local spawners) and `.kube` (KubeSpawner); this module loads
neither until asked, so that `kubespawner` is needed only by hubs that use it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["configure"]


def configure(c: Any, **kwargs: Any) -> None:
    """See `sealbox.integrations.jupyterhub.spawner.configure`."""
    from sealbox.integrations.jupyterhub.spawner import configure as _configure

    _configure(c, **kwargs)
