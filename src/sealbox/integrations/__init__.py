"""Plug-ins for the platforms where notebooks and jobs start: Kubernetes session pods, Kubeflow workspaces.

These modules build plain dicts (Kubernetes objects as JSON would hold them) and run the session side of
a launch inside a pod. They import the SDK, the launcher, crypto and domain; never the store, services or
server.
"""
