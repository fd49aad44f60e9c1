"""Entry point of the standalone bundle (PyInstaller, ``packaging/segstudio.spec``): the ``segstudio``
command, the app by default. ``freeze_support`` lets the frozen binary serve as the worker processes
of ``--jobs N`` (import, export, eval start them with forkserver)."""

import multiprocessing

from segstudio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(main())
