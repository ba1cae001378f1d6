"""The `cdp` command line (also the kubectl plugin `kubectl-cdp`).

Uses the models (the same pydantic specs and build-configuration table as the
CRDs and the operator) and talks to the API server through the kubernetes
client; it never imports the operator's apply layer.
"""
