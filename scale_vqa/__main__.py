"""``python -m scale_vqa`` runs the ``scale-vqa`` command line."""

import sys

from .cli import main

sys.exit(main())
