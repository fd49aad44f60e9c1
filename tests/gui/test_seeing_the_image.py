"""Seeing the photo (issue 16): background classes are not drawn over it unless asked, and the
IoU chart's bars stay visible on the dark plot (VOC's background is black)."""

from __future__ import annotations

from gui_helpers import BACKGROUND, CAT, scene_image, view_point, zoomed
from PySide6.QtCore import Qt

from segstudio.gui.canvas.layers import GROUND_TRUTH, PREDICTION
from segstudio.gui.panels.iou_panel import MIN_BAR_LUMA


def _on_screen(window, x: int, y: int) -> tuple[int, int, int]:
    """The colour the canvas shows at image pixel (x, y)."""
    image = window.canvas.viewport().grab().toImage()
    color = image.pixelColor(view_point(window, x + 0.5, y + 0.5))
    return color.red(), color.green(), color.blue()


def _close(a, b, tolerance=3) -> bool:
    return all(abs(int(p) - int(q)) <= tolerance for p, q in zip(a, b, strict=True))


def test_background_is_not_drawn_over_the_photo_unless_asked(qtbot, make_window, project_root):
    window = zoomed(make_window(project_root))
    panel = window.layers_panel
    qtbot.mouseClick(panel.visible[PREDICTION], Qt.MouseButton.LeftButton)  # show the prediction too
    assert window.canvas.layers[PREDICTION].isVisible()
    photo = tuple(int(c) for c in scene_image()[50, 40])
    assert int(window.labels.category[50, 40]) == BACKGROUND
    assert _close(_on_screen(window, 40, 50), photo)  # ground truth and prediction: background clear
    cat_shown = _on_screen(window, 100, 50)
    assert not _close(cat_shown, tuple(int(c) for c in scene_image()[50, 100]))  # the cat is tinted

    assert not panel.background.isChecked()
    qtbot.mouseClick(panel.background, Qt.MouseButton.LeftButton, pos=panel.background.rect().center())
    assert panel.background.isChecked()
    darker = _on_screen(window, 40, 50)
    assert sum(darker) < sum(photo) - 20  # black at half opacity, twice (ground truth and prediction)
    qtbot.mouseClick(panel.visible[GROUND_TRUTH], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.visible[PREDICTION], Qt.MouseButton.LeftButton)
    assert _close(_on_screen(window, 40, 50), photo)


def test_iou_bars_stay_visible_on_the_dark_plot(qtbot, make_window, project_root):
    window = make_window(project_root)
    panel = window.iou_panel
    qtbot.waitUntil(lambda: len(panel.bars.opts["brushes"] or []) >= 2)
    names = [name for _, name in panel.plot.getAxis("bottom")._tickLevels[0]]
    assert "background" in names and "cat" in names
    background = panel.bars.opts["brushes"][names.index("background")].color()
    luma = 0.299 * background.red() + 0.587 * background.green() + 0.114 * background.blue()
    assert luma >= MIN_BAR_LUMA - 1  # VOC's black background is lifted to a grey
    plot_background = panel.plot.backgroundBrush().color()
    assert plot_background.lightness() < 40  # the plot really is dark
    cat = panel.bars.opts["brushes"][names.index("cat")].color()
    assert window.palette[CAT].color == (64, 0, 0)  # VOC's dark red cat: lifted, still red
    assert cat.red() > cat.green() + 30 and cat.green() == cat.blue()
    assert panel.bars.opts["pen"].color().lightness() > 150  # and every bar has a light outline
