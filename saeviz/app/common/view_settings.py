"""The ``ViewState`` in the application's settings: one key holding its versioned ``to_dict()``.

Earlier releases kept the view in separate keys (``view/projection``, ``view/color``,
``guided/k``, ``guided/strategy``, ``guided/highlight``); ``load_view_state`` reads them
when the one key is missing, and removes them once the view state has been written.
"""
from __future__ import annotations

import json
import logging

from PySide6.QtCore import QSettings

from saeviz.core.io.fileio import load_json
from saeviz.core.state.view_state import SETTINGS_KEYS_V0, ViewState

log = logging.getLogger(__name__)

#: The settings key of the view state (a JSON text).
VIEW_STATE_KEY = "view/state"


def load_view_state(settings: QSettings) -> ViewState:
    """The view state stored in ``settings``, or migrated from the old separate keys; the
    defaults when there is neither. Damaged or invalid values are ignored, never an error."""
    text = settings.value(VIEW_STATE_KEY)
    if isinstance(text, str) and text:
        try:
            return ViewState.from_dict(load_json(text))
        except ValueError as exc:  # not JSON, or beyond the reader's limits
            log.warning("ignoring the saved view settings: %s", exc)
            return ViewState()
    old = {key: settings.value(key) for key in SETTINGS_KEYS_V0 if settings.contains(key)}
    return ViewState.from_dict(old) if old else ViewState()


def save_view_state(settings: QSettings, state: ViewState) -> None:
    """Store ``state`` under ``VIEW_STATE_KEY`` and drop the old separate keys."""
    settings.setValue(VIEW_STATE_KEY, json.dumps(state.to_dict()))
    for key in SETTINGS_KEYS_V0:
        if settings.contains(key):
            settings.remove(key)


__all__ = ["VIEW_STATE_KEY", "load_view_state", "save_view_state"]
