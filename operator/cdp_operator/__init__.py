"""cdp-operator: the data plane of a Choreo-style internal developer platform."""

__version__ = "0.1.0"
USER_AGENT = f"cdp-operator/{__version__}"
