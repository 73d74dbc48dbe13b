"""Invoke task modules, one per command group; ``tasks.py`` mounts them."""
