"""Run every listing row (concurrently: the TLS probe and pip-audit take seconds) into one report."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import httpx

from pipeline.config import EnvConfig
from pipeline.listing.data_exchanged import data_row
from pipeline.listing.model import ListingReport, Row
from pipeline.listing.oauth_scopes import oauth_row
from pipeline.listing.rate_limits import rate_row
from pipeline.listing.retention import retention_row
from pipeline.listing.tls import tls_row
from pipeline.listing.vulnerabilities import vulnerability_row

ROW_NAMES = ("oauth", "data-exchanged", "tls", "vulnerabilities", "retention", "rate-limits")


@dataclass(frozen=True)
class ListingOptions:
    docs: Path = Path("docs")
    vuln_db: Path | None = None           # OSV records; None: pip-audit's default service
    osv_url: str | None = None            # another OSV service (tests)
    ca_file: str | None = None            # trust this CA for the TLS row (a self-signed test server)
    app_source: Path | None = None        # default: klaviyo.app_source
    timeout_seconds: float = 10.0


def build_report(config: EnvConfig, options: ListingOptions = ListingOptions()) -> ListingReport:
    """Every row for ``config``; the configuration was validated (HTTPS included) when loaded."""
    app = options.app_source or Path(config.klaviyo.app_source)
    with httpx.Client(timeout=options.timeout_seconds, trust_env=False) as http:
        rows: list[Callable[[], Row]] = [
            lambda: oauth_row(config, app, http),
            lambda: data_row(app, options.docs / "data-exchanged.md"),
            lambda: tls_row(config, options.ca_file),
            lambda: vulnerability_row(app, options.vuln_db, options.osv_url),
            lambda: retention_row(config),
            lambda: rate_row(app, Path(config.kube.manifests), config.kube.deployment,
                             options.docs / "api-endpoints.md"),
        ]
        with ThreadPoolExecutor(max_workers=len(rows)) as pool:
            results = tuple(pool.map(lambda make: make(), rows))
    return ListingReport(config.name, datetime.now(timezone.utc).isoformat(timespec="seconds"), results)
