"""Klaviyo adapters: the REST API client, the status page client, and pure revision/SDK facts."""
