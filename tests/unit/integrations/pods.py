"""A realistic notebook pod, as KubeSpawner (zero-to-jupyterhub) builds one for user alice."""

from __future__ import annotations

import copy
from typing import Any

_NOTEBOOK_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "jupyter-alice",
        "namespace": "jhub",
        "labels": {
            "app": "jupyterhub",
            "component": "singleuser-server",
            "hub.jupyter.org/network-access-hub": "true",
            "hub.jupyter.org/servername": "",
            "hub.jupyter.org/username": "alice",
            "release": "jhub",
        },
        "annotations": {"hub.jupyter.org/username": "alice", "hub.jupyter.org/servername": ""},
    },
    "spec": {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "OnFailure",
        "schedulerName": "default-scheduler",
        "securityContext": {"fsGroup": 100},
        "nodeSelector": {"hub.jupyter.org/node-purpose": "user"},
        "tolerations": [
            {
                "effect": "NoSchedule",
                "key": "hub.jupyter.org/dedicated",
                "operator": "Equal",
                "value": "user",
            }
        ],
        "initContainers": [
            {
                "name": "block-cloud-metadata",
                "image": "quay.io/jupyterhub/k8s-network-tools:4.1.0",
                "command": [
                    "iptables",
                    "--append",
                    "OUTPUT",
                    "--destination",
                    "169.254.169.254",
                    "--jump",
                    "DROP",
                ],
                "securityContext": {
                    "runAsUser": 0,
                    "privileged": False,
                    "capabilities": {"add": ["NET_ADMIN"]},
                },
            }
        ],
        "containers": [
            {
                "name": "notebook",
                "image": "quay.io/jupyter/scipy-notebook:2025-01-06",
                "imagePullPolicy": "IfNotPresent",
                "args": ["jupyterhub-singleuser"],
                "ports": [{"name": "notebook-port", "containerPort": 8888, "protocol": "TCP"}],
                "env": [
                    {"name": "JUPYTERHUB_USER", "value": "alice"},
                    {"name": "JUPYTERHUB_SERVICE_PREFIX", "value": "/user/alice/"},
                    {"name": "JUPYTER_IMAGE_SPEC", "value": "quay.io/jupyter/scipy-notebook:2025-01-06"},
                    {"name": "MEM_GUARANTEE", "value": "1073741824"},
                ],
                "resources": {"requests": {"memory": "1073741824"}, "limits": {"memory": "2147483648"}},
                "securityContext": {"runAsUser": 1000, "runAsGroup": 100, "allowPrivilegeEscalation": False},
                "volumeMounts": [{"name": "volume-alice", "mountPath": "/home/jovyan"}],
                "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 1"]}}},
            }
        ],
        "volumes": [{"name": "volume-alice", "persistentVolumeClaim": {"claimName": "claim-alice"}}],
    },
}


def notebook_pod() -> dict[str, Any]:
    return copy.deepcopy(_NOTEBOOK_POD)
