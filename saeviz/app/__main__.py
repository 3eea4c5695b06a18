"""``python -m saeviz.app`` starts the desktop application."""
import sys

from .launch import main

sys.exit(main())
