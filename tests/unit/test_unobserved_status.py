"""A new object reads as not yet observed until the operator's first status write.

The CRDs default `status` to UNOBSERVED_STATUS (the apiserver applies it to every
object that has none). kstatus, which Flux's wait uses, then reads a new object
as InProgress instead of Current, and Argo CD's health check as Progressing. The
real apiserver applying the default, and Flux waiting on it, are checked in
tests/e2e/test_gitops_flux.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp_operator.cli.kstatus import Health, Status, argocd_health, compute
from cdp_operator.models import crdgen
from cdp_operator.models.status import STATUS_MODELS, UNOBSERVED_STATUS

CRDS = Path(__file__).resolve().parents[2] / "crds"


def _status_schema(info: crdgen.KindInfo) -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / crdgen.file_name(info)).read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(schema["properties"]["status"])


@pytest.mark.parametrize("info", crdgen.KINDS, ids=lambda i: i.kind)
def test_a_new_object_is_in_progress_until_the_operator_writes(info: crdgen.KindInfo) -> None:
    default = _status_schema(info)["default"]
    assert default == UNOBSERVED_STATUS
    # The default is a valid status of the kind's model.
    STATUS_MODELS[info.kind].model_validate(default)
    new = {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": info.kind,
        "metadata": {"name": "x", "generation": 1},
        "status": copy.deepcopy(default),
    }
    assert compute(new).status == Status.IN_PROGRESS
    assert argocd_health(new).status == Health.PROGRESSING
    # Without the default, kstatus reads the same object as Current: the gap it closes.
    assert compute({**new, "status": None}).status == Status.CURRENT
    # The operator's first verdict replaces it.
    judged = {
        **new,
        "status": {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Ready"},
                {"type": "Reconciling", "status": "False", "reason": "Done"},
                {"type": "Stalled", "status": "False", "reason": "Done"},
            ],
        },
    }
    assert compute(judged).status == Status.CURRENT
