"""The open image and project: its labels and history, autosave journal, sessions, project folders."""
