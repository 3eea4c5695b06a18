"""What every feature of the app may use: the ``Shell`` it is given, background tasks, the one
label editor (undo stack), sample panes, icons, units, questions and small helpers."""
