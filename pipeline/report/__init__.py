"""Renderings of results: the GitHub job summary (Markdown). Terminal output lives with each CLI."""
