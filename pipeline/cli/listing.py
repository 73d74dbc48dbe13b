"""`invoke listing --env NAME`: Klaviyo app listing readiness, a row per requirement.

Exit codes (pipeline/exit_codes.py): 0 every row passed, 1 a row failed, 3 a row could not be
checked (and none failed), 2 bad configuration or arguments (an http:// service URL outside
local included: refused before any request).
"""
from __future__ import annotations

import sys
from pathlib import Path

from invoke import Exit, task
from rich.console import Console

from pipeline.config import ConfigError, load_config
from pipeline.exit_codes import ExitCode
from pipeline.listing import ListingOptions, build_report
from pipeline.listing.render import render, to_json, to_markdown


@task(help={
    "env": "environment in pipeline.toml: local (the sandbox), staging, prod (default local)",
    "json": "print the report as JSON instead of a table",
    "markdown": "also write the report as Markdown to this file (for the listing submission)",
    "vuln_db": "OSV vulnerability records (JSON file, directory or all.zip) to audit the app's pins against "
               "(default: pip-audit's own service; unreachable means not checked)",
    "ca_file": "extra CA certificate to trust for the public URL's TLS check",
    "config": "configuration file (default pipeline.toml)",
})
def listing(c, env="local", json=False, markdown="", vuln_db="", ca_file="", config="pipeline.toml"):
    """Check the app against Klaviyo's listing requirements: OAuth, data, TLS, vulnerabilities, retention, rate limits."""
    try:
        settings = load_config(env, config)
        if vuln_db and not Path(vuln_db).exists():
            raise ConfigError(f"--vuln-db {vuln_db!r} not found (a JSON file, a directory or an OSV all.zip)")
        if ca_file and not Path(ca_file).is_file():
            raise ConfigError(f"--ca-file {ca_file!r} not found (a PEM certificate)")
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]configuration error:[/] {exc}", highlight=False)
        raise Exit(code=int(ExitCode.USAGE))
    report = build_report(settings, ListingOptions(vuln_db=Path(vuln_db) if vuln_db else None,
                                                   ca_file=ca_file or None))
    if json:
        sys.stdout.write(to_json(report) + "\n")
    else:
        render(report)
    if markdown:
        Path(markdown).write_text(to_markdown(report))
        Console(stderr=json).print(f"Markdown written to {markdown}", highlight=False)
    if report.exit_code:
        raise Exit(code=int(report.exit_code))
