"""Preflight: "is it safe to deploy now?" as concurrent, explained checks.

``run_preflight(config, skip=...) -> PreflightReport`` (see runner.py); results are values
(``CheckResult``, ``Verdict``) so ``invoke deploy`` can act on them.
"""
from pipeline.preflight.check import CheckResult, Finding, Verdict
from pipeline.preflight.runner import PreflightReport, parse_skip, preflight, run_preflight

__all__ = ["CheckResult", "Finding", "PreflightReport", "Verdict", "parse_skip", "preflight",
           "run_preflight"]
