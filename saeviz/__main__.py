"""``python -m saeviz`` (and ``torchrun -m saeviz``) runs the command line."""
import sys

from saeviz.cli import main

if __name__ == "__main__":  # not when a spawned process (training) imports the main module
    sys.exit(main())
