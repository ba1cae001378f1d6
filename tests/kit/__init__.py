"""The test toolkit: the one set of helpers that tests, the resilience suite and
the benchmark share (import as ``from kit import ...``; ``tests/`` is on sys.path).

* ``wait``: the one bounded wait; on timeout it shows the last state it observed
  (``observe_until`` returns that state for the caller to assert on; ``holds_for``
  checks that nothing happened for a while).
* ``kubectl``: the one kubectl wrapper bound to a test cluster (``Kube``), and
  condition helpers.
* ``audit``: the one reader of the API server's JSON-lines audit log.
* ``identity``: ServiceAccount tokens and token kubeconfigs.
* ``metrics``: the operator's Prometheus metrics, parsed with
  ``prometheus_client.parser``.
* ``kind``: the harness's ``--kind`` cluster through pytest-kind (an optional
  extra; used by tests/conftest.py, not re-exported here).

Nothing here asserts on speed: every wait is a bound, not a measurement.
"""

from __future__ import annotations

from .audit import WRITE_VERBS, AuditLog, breakdown, describe, username
from .identity import kubeconfig_entries, service_account_token, token_kubeconfig
from .kubectl import Kube, condition, has_condition
from .metrics import Metrics, parse_metrics, pod_active, scrape
from .wait import WaitTimeout, holds_for, observe_until, wait_for

__all__ = [
    "WRITE_VERBS",
    "AuditLog",
    "Kube",
    "Metrics",
    "WaitTimeout",
    "breakdown",
    "condition",
    "describe",
    "has_condition",
    "holds_for",
    "kubeconfig_entries",
    "observe_until",
    "parse_metrics",
    "pod_active",
    "scrape",
    "service_account_token",
    "token_kubeconfig",
    "username",
    "wait_for",
]
