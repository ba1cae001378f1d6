"""The operator process: Kopf's frame (startup and cleanup, login, liveness,
peering keep-alive) starting the informers, the leader guard and the workers
(wiring.py), and its JSON logs (logs.py). No reconcile logic: that is apply/."""
