"""The open image and project: the Qt face of the label model (``core.label_document``), autosave
journal, sessions, project folders."""
