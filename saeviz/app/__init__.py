"""The PySide6 desktop application: the only package that imports Qt, pyqtgraph and pyvistaqt."""
