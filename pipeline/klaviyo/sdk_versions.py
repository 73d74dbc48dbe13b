"""Which API revision each official ``klaviyo-api`` SDK release is built for (and sends).

Python (PyPI ``klaviyo-api``): read from ``_REVISION`` in ``klaviyo_api/wrapper.py`` at every
tag of https://github.com/klaviyo/klaviyo-api-python (v1.0.0 .. v24.0.0); 5.2.0 from its
CHANGELOG ("[5.2.0] - revision 2023-09-15"); 25.0.0 from the PyPI wheel (``_REVISION =
"2026-10-15"``, installed here).

Node (npm ``klaviyo-api``): read from the ``revision`` constant in ``api/apis.ts`` at every
tag of https://github.com/klaviyo/klaviyo-api-node (v1.0.0 .. v20.0.0, which agree with its
CHANGELOG). 23.0.0 -> 2026-07-15 from npm registry metadata quoted by
github.com/api-evangelist/klaviyo packages/klaviyo-packages.yml (2026-08-13: "node/python/
php/ruby all shipped on 2026-07-15, matching the 2026-07-15 API revision"). 21.0.0 and
22.0.0 are INFERRED from that lockstep (the quarterly revisions between 20.0.0 and 23.0.0);
no release later than 23.0.0 was found, so newer Node versions are unknown here.
"""
from __future__ import annotations

PYTHON = "python"
NODE = "node"

PYTHON_SDK_REVISIONS: dict[str, str] = {
    "1.0.0": "2022-10-17", "1.0.1": "2022-10-17", "1.0.2": "2022-10-17",
    "1.1.0": "2023-01-24",
    "1.2.0": "2023-02-22", "1.2.1": "2023-02-22", "1.3.1": "2023-02-22",
    "2.0.0": "2023-02-22", "2.0.1": "2023-02-22", "2.0.2": "2023-02-22",
    "3.0.0": "2023-06-15",
    "4.0.0": "2023-07-15", "5.0.0": "2023-07-15",
    "5.1.0": "2023-08-15", "5.1.1": "2023-08-15", "5.1.2": "2023-08-15",
    "5.2.0": "2023-09-15",
    "6.0.0": "2023-10-15", "6.0.1": "2023-10-15",
    "6.1.0": "2023-12-15",
    "7.0.0": "2024-02-15",
    "8.0.0": "2024-05-15", "8.0.1": "2024-05-15",
    "9.0.0": "2024-06-15",
    "10.0.0": "2024-07-15", "11.0.0": "2024-07-15", "11.0.1": "2024-07-15",
    "12.0.0": "2024-07-15", "13.0.0": "2024-07-15",
    "14.0.0": "2024-10-15", "15.0.0": "2024-10-15", "16.0.0": "2024-10-15",
    "17.0.0": "2025-01-15", "18.0.0": "2025-01-15",
    "19.0.0": "2025-04-15", "19.0.1": "2025-04-15", "19.0.2": "2025-04-15",
    "20.0.0": "2025-07-15",
    "21.0.0": "2025-10-15",
    "22.0.0": "2026-01-15",
    "23.0.0": "2026-04-15",
    "24.0.0": "2026-07-15",
    "25.0.0": "2026-10-15",
}

NODE_SDK_REVISIONS: dict[str, str] = {
    "1.0.0": "2022-10-17", "1.0.1": "2022-10-17", "1.0.2": "2022-10-17",
    "2.0.0": "2023-01-24",
    "2.1.0": "2023-02-22", "2.1.1": "2023-02-22", "3.0.0": "2023-02-22",
    "4.0.0": "2023-06-15", "4.0.1": "2023-06-15",
    "5.0.0": "2023-07-15",
    "5.1.0": "2023-08-15",
    "6.0.0": "2023-09-15", "6.0.1": "2023-09-15",
    "7.0.0": "2023-10-15", "7.1.0": "2023-10-15",
    "7.2.0": "2023-12-15",
    "8.0.0": "2024-02-15", "8.0.1": "2024-02-15", "9.0.0": "2024-02-15",
    "10.0.0": "2024-05-15", "10.0.1": "2024-05-15",
    "10.1.0": "2024-06-15",
    "11.0.0": "2024-07-15", "12.0.0": "2024-07-15", "12.0.1": "2024-07-15",
    "13.0.0": "2024-10-15", "14.0.0": "2024-10-15", "15.0.0": "2024-10-15",
    "16.0.0": "2025-01-15", "17.0.0": "2025-01-15",
    "18.0.0": "2025-04-15",
    "19.0.0": "2025-07-15", "19.0.1": "2025-07-15", "19.0.2": "2025-07-15",
    "20.0.0": "2025-10-15",
    "21.0.0": "2026-01-15",   # inferred (see module docstring)
    "22.0.0": "2026-04-15",   # inferred (see module docstring)
    "23.0.0": "2026-07-15",
}

_TABLES = {PYTHON: PYTHON_SDK_REVISIONS, NODE: NODE_SDK_REVISIONS}


def revision_for(ecosystem: str, version: str) -> str | None:
    """The revision ``klaviyo-api`` ``version`` of ``ecosystem`` (python|node) sends; None if unknown."""
    return _TABLES[ecosystem].get(version)


def versions_for(ecosystem: str, revision: str) -> list[str]:
    """The SDK versions of ``ecosystem`` built for ``revision`` (to suggest an upgrade)."""
    return [v for v, r in _TABLES[ecosystem].items() if r == revision]
