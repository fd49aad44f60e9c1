"""A new object's id is unused in the image, kept up from the boxes edits change rather than a
scan of the whole instance map at every press: real window, real strokes, undo."""

from __future__ import annotations

from gui_helpers import CAT, DOG, drag


def test_new_objects_take_ids_no_object_of_the_image_has(qtbot, make_window, project_root):
    window = make_window(project_root)
    labels = window.document.labels
    window.toolbox.set_tool("brush")
    window.toolbox.pick(DOG, 900)  # continue (as if picked) an object of a high id
    drag(qtbot, window, [(10, 10), (50, 10)])
    assert (labels.instance == 900).any()
    window.toolbox.set_label(CAT)
    drag(qtbot, window, [(10, 60), (50, 60)])  # far from any cat: a new object
    fresh = int(labels.instance[60, 30])
    assert fresh > 900
    window.undo()
    window.undo()  # both strokes gone: their ids are still never handed out again
    assert int(labels.instance.max()) < 900
    drag(qtbot, window, [(10, 60), (50, 60)])
    assert int(labels.instance[60, 30]) > fresh
