"""Install segstudio's desktop entry, AppStream metainfo and icons for the current user (XDG).

    python packaging/install_desktop.py [--exec COMMAND] [--uninstall]

Files go under ``$XDG_DATA_HOME`` (default ``~/.local/share``): ``applications/``, ``metainfo/``
and ``icons/hicolor/{N}x{N}/apps`` plus ``scalable/apps``. ``--exec`` puts an absolute command in the
entry's ``Exec`` (``make install-desktop`` gives its venv's ``segstudio-gui``; the bundle gives its
binary); without it the entry runs ``segstudio-gui`` from ``PATH``, as after ``pip install``.
Only the standard library: it runs before or without the app's dependencies.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "org.segstudio.SegStudio"
ICONS = ROOT / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def data_home() -> Path:
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def targets(base: Path) -> dict[Path, Path]:
    """Source file -> installed path."""
    files = {
        ROOT / "packaging" / f"{APP_ID}.desktop": base / "applications" / f"{APP_ID}.desktop",
        ROOT / "packaging" / f"{APP_ID}.metainfo.xml": base / "metainfo" / f"{APP_ID}.metainfo.xml",
        ICONS / f"{APP_ID}.svg": base / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
    }
    for size in SIZES:
        apps = base / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        files[ICONS / f"{APP_ID}-{size}.png"] = apps / f"{APP_ID}.png"
    return files


def desktop_entry(command: str | None) -> str:
    """The entry's text, with ``Exec`` running ``command`` when given (quoted as the spec asks)."""
    text = (ROOT / "packaging" / f"{APP_ID}.desktop").read_text(encoding="utf-8")
    if command is None:
        return text
    if any(c in command for c in '"`$\\\n'):
        raise SystemExit(f"install_desktop: {command!r}: a command with quotes, $, ` or \\ is not supported")
    quoted = f'"{command}"' if " " in command else command
    return "".join(
        f"Exec={quoted} %F\n" if line.startswith("Exec=") else line for line in text.splitlines(keepends=True)
    )


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(data)
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, path)


def refresh_caches(base: Path) -> None:
    """Tell the desktop about the new files where the tools exist (no tool: the next login does)."""
    for command in (
        ["update-desktop-database", "-q", str(base / "applications")],
        ["gtk-update-icon-cache", "-q", "-t", "-f", str(base / "icons" / "hicolor")],
    ):
        if shutil.which(command[0]):
            subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def install(command: str | None, base: Path) -> list[Path]:
    written = []
    for source, target in targets(base).items():
        data = desktop_entry(command).encode("utf-8") if target.suffix == ".desktop" else source.read_bytes()
        write_atomic(target, data)
        written.append(target)
    refresh_caches(base)
    return written


def uninstall(base: Path) -> list[Path]:
    removed = [target for target in targets(base).values() if target.exists()]
    for target in removed:
        target.unlink()
    refresh_caches(base)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exec", dest="command", help="absolute path of the command the entry runs")
    parser.add_argument("--uninstall", action="store_true", help="remove what an install wrote")
    args = parser.parse_args(argv)
    if args.command is not None and not os.path.isabs(args.command):
        print(f"install_desktop: --exec {args.command}: give an absolute path", file=sys.stderr)
        return 2
    base = data_home()
    try:
        paths = uninstall(base) if args.uninstall else install(args.command, base)
    except OSError as error:
        print(f"install_desktop: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(("removed " if args.uninstall else "") + str(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
