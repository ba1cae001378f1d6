"""The operator's Prometheus metrics, parsed with ``prometheus_client.parser``."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


class Metrics(Mapping[str, float]):
    """One scrape. As a mapping: ``'name{label="v",...}' -> value`` (labels in the order
    the exposition gives them); ``value`` and ``sum`` select by labels instead."""

    def __init__(self, text: str) -> None:
        self.families: set[str] = set()
        self.samples: list[tuple[str, dict[str, str], float]] = []
        for family in text_string_to_metric_families(text):
            self.families.add(family.name)
            for s in family.samples:
                self.samples.append((s.name, dict(s.labels), float(s.value)))
        self._by_key = {_key(name, labels): value for name, labels, value in self.samples}

    def __getitem__(self, key: str) -> float:
        return self._by_key[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def select(self, name: str, **labels: str) -> list[float]:
        """Values of the samples called ``name`` whose labels include ``labels``."""
        if "{" in name:  # a selector spelled as text would silently match nothing
            raise ValueError(f"{name!r}: pass the labels as keywords, not in the name")
        return [
            value
            for sample, have, value in self.samples
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample ``name`` with exactly these labels (None: no such sample)."""
        found = [v for sample, have, v in self.samples if sample == name and have == labels]
        return found[0] if found else None

    def sum(self, name: str, **labels: str) -> float:
        """The sum over every sample ``name`` whose labels include ``labels``."""
        return sum(self.select(name, **labels))


def _key(name: str, labels: Mapping[str, str]) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def parse_metrics(text: str) -> Metrics:
    return Metrics(text)


def scrape(url: str, timeout: float = 5) -> Metrics:
    """GET a /metrics endpoint and parse it (OSError when it does not answer)."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return Metrics(resp.read().decode())


def pod_active(pod: Mapping[str, Any], port: int = 8080) -> bool | None:
    """An operator replica's ``cdp_active`` gauge, scraped from its pod IP
    (None: no IP yet, not answering, or no such gauge)."""
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        return None
    try:
        active = scrape(f"http://{ip}:{port}/metrics", timeout=3).value("cdp_active")
    except OSError:
        return None
    return None if active is None else active == 1
