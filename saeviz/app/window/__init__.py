"""The main window and the application's start: wiring of the features into one window."""
