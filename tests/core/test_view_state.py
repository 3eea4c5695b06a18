"""The view state: one event per field on real changes, checked values, one versioned form that
reads every older one."""
from __future__ import annotations

import json

import pytest

from saeviz.core.state.view_state import FIELDS, VERSION, ViewState


def recorder(state: ViewState) -> list[tuple[str, object]]:
    got: list[tuple[str, object]] = []
    state.events.all.connect(lambda info: got.append((info.signal.name, info.args[0])))
    return got


def test_each_field_has_its_own_event_emitted_only_on_a_real_change():
    v = ViewState()
    got = recorder(v)
    per_field = []
    v.events.color.connect(per_field.append)
    new = {"projection": "lda", "dims": 3, "axes": (1, 0, 2), "color": "recon", "show_targets": False,
           "show_lines": True, "guided_strategy": "entropy", "guided_k": 20, "guided_highlight": False,
           "tool": "brush", "brush_radius": 30.0, "current_class": 4}
    assert set(new) == {f.name for f in FIELDS}
    for name, value in new.items():
        setattr(v, name, value)
        setattr(v, name, value)  # the same again: no event
    assert got == list(new.items())
    assert per_field == ["recon"]
    v.axes = [1, 0, 2]  # equal as a list: no event
    v.update(projection="lda", color="recon")
    assert len(got) == len(new)
    v.update({"projection": "pca", "color": "recon"})
    assert got[-1] == ("projection", "pca") and len(got) == len(new) + 1


def test_invalid_values_are_refused_and_change_nothing():
    v = ViewState()
    got = recorder(v)
    for name, value in [("projection", "warp"), ("dims", 4), ("dims", True), ("axes", (0, 1)), ("axes", "012"),
                        ("color", 3), ("show_lines", "yes"), ("guided_k", 0), ("guided_k", 10 ** 6),
                        ("guided_strategy", "best"), ("tool", "spray"), ("brush_radius", float("nan")),
                        ("brush_radius", 1.0), ("current_class", -1)]:
        with pytest.raises(ValueError, match=name):
            setattr(v, name, value)
    with pytest.raises(AttributeError, match="no field"):
        v.zoom = 2
    with pytest.raises(ValueError, match="dims"):
        v.update(projection="lda", dims=5)  # one bad value: nothing is set
    assert v == ViewState() and got == []


def test_to_dict_round_trips_through_json():
    v = ViewState(projection="tsne", dims=3, axes=(2, 1, 0), color="wrong", show_targets=False, guided_k=7,
                  guided_strategy="random", guided_highlight=False, tool="lasso", brush_radius=12.5, current_class=3)
    doc = json.loads(json.dumps(v.to_dict()))
    assert doc["version"] == VERSION
    back = ViewState.from_dict(doc)
    assert back == v and back is not v
    assert ViewState.from_dict(ViewState().to_dict()) == ViewState()
    c = v.copy()
    c.dims = 2
    assert v.dims == 3


def test_the_old_separate_settings_keys_migrate():
    # as an INI settings file gives them back: every value a string
    old = {"view/projection": "lda", "view/color": "confidence", "guided/k": "25", "guided/strategy": "entropy",
           "guided/highlight": "false", "window/geometry": "ignored"}
    assert ViewState.from_dict(old) == ViewState(projection="lda", color="confidence", guided_k=25,
                                                 guided_strategy="entropy", guided_highlight=False)
    assert ViewState.from_dict({"guided/highlight": True, "guided/k": 3}) == ViewState(guided_k=3)


def test_a_format_1_project_view_migrates():
    old = {"projection": "axes", "dims": 3, "color": "prediction", "anchors": False, "lines": True,
           "axes": [3, 1, 0], "tool": "rectangle", "brush_radius": 17.5, "current_class": 2}
    assert ViewState.from_dict(old) == ViewState(projection="axes", dims=3, color="prediction", show_targets=False,
                                                 show_lines=True, axes=(3, 1, 0), tool="rectangle",
                                                 brush_radius=17.5, current_class=2)


@pytest.mark.parametrize("doc", [
    None, [], "pca", 3,
    {"version": "two", "projection": "lda"},
    {"version": -1, "projection": "lda"},
])
def test_unreadable_documents_give_the_defaults(doc):
    assert ViewState.from_dict(doc) == ViewState()


def test_invalid_and_unknown_values_are_ignored_field_by_field():
    doc = {"version": VERSION, "projection": "umap", "dims": "3", "color": "recon", "guided_k": -5,
           "show_lines": 1, "zoom": 4, "tool": None, "axes": [0, 1, 2, 3]}
    assert ViewState.from_dict(doc) == ViewState(projection="umap", color="recon")
    # a newer version: the fields this version knows are read
    assert ViewState.from_dict({"version": VERSION + 1, "dims": 3, "layers": []}) == ViewState(dims=3)


def test_assign_and_reset_emit_only_for_changed_fields():
    v = ViewState(color="recon")
    got = recorder(v)
    v.assign(ViewState(color="recon", dims=3))
    assert got == [("dims", 3)]
    v.reset()
    assert got[1:] == [("dims", 2), ("color", "label")] and v == ViewState()
