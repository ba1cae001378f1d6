"""The DataPlane reconciler, and the one for Projects and Environments outside
any organization namespace (strays): both only write a status."""

from __future__ import annotations

from ..models.resources import DataPlaneSpec
from ..render.gitops import not_served_verdict, served_in_cluster
from ..render.status import not_in_org_namespace
from ..render.verdict import Verdict
from .kit import KindReconciler


class DataPlaneReconciler(KindReconciler):
    async def reconcile(self, name: str) -> None:
        obj = self.shared.cache.get("DataPlane", None, name)
        if obj is None:
            return
        served = self.shared.serves(name)
        if not served and served_in_cluster(obj):
            return  # another operator of this cluster serves it
        data_plane = await self.status.parse(obj, DataPlaneSpec)
        if data_plane is None:
            return
        if not served:
            await self.status.write(obj, not_served_verdict(None, name))
            return
        # No counts in the message: they would rewrite every DataPlane's status
        # whenever any organization comes or goes.
        await self.status.write(obj, Verdict(True, "Available", f"region {data_plane.spec.region}"))


class StrayReconciler(KindReconciler):
    async def reconcile(self, kind: str, namespace: str, name: str) -> None:
        """A Project or Environment outside any organization namespace: say so."""
        obj = self.shared.cache.get(kind, namespace, name)
        if obj is None or self.shared.org_of_namespace(namespace) is not None:
            return
        if self.shared.awaits_its_organization(namespace):
            return  # an organization namespace being deleted
        await self.status.write(obj, not_in_org_namespace(namespace))
