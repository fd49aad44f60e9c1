"""The docks that show and choose: palette, layers, IoU, live PQ and the image list."""
