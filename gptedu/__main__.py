"""``python -m gptedu train`` does the same as the ``gptedu train`` command."""

import sys

from .cli import main

sys.exit(main())
