"""``python -m klaviyo_sync``: run the service until SIGTERM/SIGINT."""
import sys

from klaviyo_sync.app import main

sys.exit(main())
