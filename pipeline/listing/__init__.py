"""`invoke listing`: is the app ready for Klaviyo's app listing review? One row per requirement.

Rows: OAuth and scopes, data exchanged, TLS of the public URL, dependency vulnerabilities,
record retention, rate-limit handling. Each row passes, fails, or says why it was not checked
(never a pass by default). ``build_report`` runs them; ``render`` prints a table, JSON or the
Markdown for the submission. docs/klaviyo-listing.md maps every listing requirement to a row
or to the evidence a program cannot give.
"""
from pipeline.listing.model import ListingReport, Row, Verdict
from pipeline.listing.runner import ListingOptions, build_report

__all__ = ["ListingOptions", "ListingReport", "Row", "Verdict", "build_report"]
