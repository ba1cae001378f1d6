"""The only layer that talks to the API: cache, diff, server-side apply, prune, status."""
