"""klaviyo-sync: the sample Klaviyo integration the pipeline deploys.

A small service built on the official SDKs (``klaviyo-api`` for every Klaviyo call,
``launchdarkly-server-sdk`` for the ``klaviyo-enabled`` kill switch, ``prometheus_client``
for metrics). Run it with ``python -m klaviyo_sync``; docs/app.md documents endpoints,
environment variables, the metrics contract and the staged fault versions.
"""
