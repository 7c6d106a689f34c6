# jupyterhub_config.py: a hub whose people tick the secrets their notebook server gets from sealbox.
#
# Once, on the sealbox side (an admin): a service account for the hub, with what it may bring in:
#   sealbox admin service add hub --kind generic --kind token --kind aws --kind database
# and save the token it prints to /etc/jupyterhub/sealbox-token (owner: the hub's user, mode 0600).
#
# The hub then acts for each person with that token: the spawn form lists the person's own and shared
# secrets (only those the service may use), the chosen ones become a sealbox session of that person,
# and the server gets the files in a private folder in memory ($SEALBOX_SECRETS_DIR, files 0400).
# Stopping the server ends the session and removes the folder.
from sealbox.integrations.jupyterhub import configure

c = get_config()  # type: ignore[name-defined]  # noqa: F821 -- JupyterHub provides get_config()

configure(
    c,
    url="http://127.0.0.1:8480",  # the sealbox server, as the hub reaches it
    token_file="/etc/jupyterhub/sealbox-token",  # noqa: S106 -- a path: the hub's service-account token (0600)
    spawner="local",  # LocalProcessSpawner; "simple" for SimpleLocalProcessSpawner, "kube" for KubeSpawner
)

# LocalProcessSpawner: the hub runs as root and starts each server as the system account named like the
# hub user; those accounts need a Python they can run with sealbox, jupyterhub and ipykernel, e.g.
#   python3 -m venv /opt/jupyter
#   /opt/jupyter/bin/pip install jupyterhub jupyter_server ipykernel /path/to/sealbox
# c.Spawner.cmd = ["/opt/jupyter/bin/jupyterhub-singleuser"]
# c.Spawner.environment = {"PATH": "/opt/jupyter/bin:/usr/bin:/bin"}  # else the hub's PATH is passed on

# Optional: how long a server's session may live at most (it ends when the server stops).
c.SealboxSpawner.sealbox_session_ttl = 7 * 24 * 3600

# On Kubernetes (spawner="kube"), pods reach sealbox and its keeper at cluster addresses:
# c.SealboxKubeSpawner.sealbox_pod_url = "http://sealbox-server.sealbox.svc:8480"
# c.SealboxSpawner.sealbox_keeper_url = "http://sealbox-keeper.sealbox.svc:8481"
# c.SealboxKubeSpawner.sealbox_image = "registry.example.org/sealbox:0.1.0"
