"""``python -m skunfold`` runs the demonstration of :mod:`skunfold.demo`."""

import sys

from .demo import main

if __name__ == "__main__":
    sys.exit(main())
