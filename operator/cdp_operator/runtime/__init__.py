"""The generic controller runtime: list/watch, cache, work queue, leader guard, Events.

Nothing here knows an Organization from a Deployment: the domain (which kinds,
which labels, which field manager) is passed in by apply/ and process/.
"""
