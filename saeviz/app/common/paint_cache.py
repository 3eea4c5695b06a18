"""Scene items that rarely change are drawn once and then copied: axes, grids, legends.

A plot repaints its whole view whenever a curve or a point moves, and pyqtgraph replays each
axis (its ticks, labels and grid lines) and each legend from vector drawing commands at every
repaint. While training, curves and points move many times a second while the axes and the
legends stay as they were. Qt's device-coordinate cache keeps each such item as a pixmap,
redrawn only when the item itself changes (a new range, a new class), so a repaint copies it.

Exports draw without the cache: a cached item would reach an SVG file as a picture (its text
lost) and a large PNG as a scaled-up copy. pyqtgraph's exporters, and the latent view's own
SVG export, put every item of the scene in export mode first; a cached item leaves the cache
while it is in export mode.
"""
from __future__ import annotations

from PySide6.QtWidgets import QGraphicsItem


def cache_static_items(*items: QGraphicsItem | None) -> None:
    """Draw ``items`` through Qt's device-coordinate cache (``None`` entries are skipped)."""
    for item in items:
        if item is None:
            continue
        item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        if hasattr(item, "setExportMode") and not getattr(item, "_export_uncached", False):
            _uncached_in_export(item)


def _uncached_in_export(item) -> None:
    set_export_mode = item.setExportMode

    def export_mode(export, opts=None):
        item.setCacheMode(QGraphicsItem.CacheMode.NoCache if export
                          else QGraphicsItem.CacheMode.DeviceCoordinateCache)
        return set_export_mode(export, opts)

    item.setExportMode = export_mode
    item._export_uncached = True


def cache_plot_frame(plot_item, legend: QGraphicsItem | None = None) -> None:
    """The axes of a pyqtgraph ``PlotItem`` (with their grid) and its ``legend``, cached."""
    cache_static_items(*(plot_item.getAxis(side) for side in ("left", "bottom", "right", "top")), legend)
