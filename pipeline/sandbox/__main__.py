"""``python -m pipeline.sandbox serve --dir .sandbox``: run every stand-in in the foreground."""
from pipeline.sandbox.supervisor import main

raise SystemExit(main())
