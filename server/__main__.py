"""``python -m server`` = ``oi-server``."""

import sys

from server.cli import main

sys.exit(main())
