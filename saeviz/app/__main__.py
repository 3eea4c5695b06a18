"""``python -m saeviz.app`` starts the desktop application."""
import sys

from saeviz.app.window.launch import main

if __name__ == "__main__":  # not when a spawned process (training) imports the main module
    sys.exit(main())
