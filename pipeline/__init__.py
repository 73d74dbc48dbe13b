"""Deployment pipeline for Klaviyo integrations on Kubernetes.

Production code lives here; the local stand-ins live in ``pipeline.sandbox`` and are
never imported by anything outside it (``tests/test_layering.py`` checks that).
"""
