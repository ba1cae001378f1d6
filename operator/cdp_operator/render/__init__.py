"""Pure render layer: validated specs in, desired Kubernetes objects (plain dicts) out.

No I/O and no Kubernetes client here. The same input always gives the same
objects, written in the form the API server stores them (explicit protocols,
canonical quantities, no empty lists), so that "desired is a subset of live"
holds once an object has been applied and a reconcile makes no writes.
"""
