"""``python -m saeviz.app`` starts the desktop application."""
import sys

from saeviz.app.window.launch import main

sys.exit(main())
