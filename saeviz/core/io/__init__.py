"""Files: checkpoints (``checkpoint``), project folders (``project``), label files
(``label_io``), atomic writes and bounded JSON (``fileio``), output checks (``outputs``), the
memory budget for reading (``budget``) and validation of stored references (``validate``)."""
