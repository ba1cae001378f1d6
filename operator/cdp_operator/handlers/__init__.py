"""Kopf wiring only: watch events feed the reconciler's cache and queue."""
