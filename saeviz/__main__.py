"""``python -m saeviz`` (and ``torchrun -m saeviz``) runs the command line."""
import sys

from saeviz.cli import main

sys.exit(main())
