"""What every per-kind reconciler is given: the shared state, the writers of
objects and statuses, the held-resources gauge and the spec-change times."""

from __future__ import annotations

from dataclasses import dataclass

from .context import Shared
from .held import HeldResources
from .intake import SpecChanges
from .status import StatusWriter
from .writes import Writer


@dataclass(frozen=True)
class Kit:
    shared: Shared
    writer: Writer
    status: StatusWriter
    held: HeldResources
    spec_changes: SpecChanges

    @staticmethod
    def make(shared: Shared) -> Kit:
        return Kit(
            shared,
            Writer(shared),
            StatusWriter(shared),
            HeldResources(shared.metrics),
            SpecChanges(),
        )


class KindReconciler:
    """The base of the reconcilers of one kind each: the kit, under short names."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.shared = kit.shared
        self.cache = kit.shared.cache
        self.writer = kit.writer
        self.status = kit.status
        self.held = kit.held
