"""Parse the Prometheus text exposition format into series -> value (pure).

Uses ``prometheus_client.parser.text_string_to_metric_families``, the parser of the official
Python client (already a dependency of the sample app), rather than a hand-written one: it
handles escaping, ``# TYPE``/``# HELP`` lines, exponents, ``+Inf``/``NaN`` and OpenMetrics-ish
variants. A series is keyed by its sample name (``..._total``, ``..._bucket``) and its sorted
labels.
"""
from __future__ import annotations

from typing import Mapping

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Series = tuple[str, Labels]
Scrape = Mapping[Series, float]


class MetricsParseError(ValueError):
    """The text is not the Prometheus exposition format; the message says where it broke."""


def series(name: str, **labels: str) -> Series:
    """The key of one series, e.g. ``series("x_total", status="500")``."""
    return name, tuple(sorted(labels.items()))


def parse(text: str, source: str = "metrics") -> dict[Series, float]:
    """Every sample of ``text`` as ``{(name, labels): value}``; a repeated series keeps the last value."""
    samples: dict[Series, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    except (ValueError, IndexError, TypeError) as exc:
        raise MetricsParseError(f"{source}: not in the Prometheus text format ({exc})") from None
    return samples


def named(scrape: Scrape, name: str) -> dict[Labels, float]:
    """The series of one sample name, keyed by labels."""
    return {labels: value for (sample, labels), value in scrape.items() if sample == name}
