"""The image view: the canvas widget, its label/overlay layers and their conversion to QImage."""
