"""The guard that fails tests reading beside the checkout (``checkout_guard``) sees real opens."""

from __future__ import annotations

import os
from pathlib import Path

from checkout_guard import CheckoutGuard


def _guard_for(checkout: Path) -> CheckoutGuard:
    guard = CheckoutGuard(checkout)
    guard.allowed = [guard.checkout]  # here the temporary folder is the checkout's surroundings
    return guard


def test_paths_beside_the_checkout_escape_and_others_do_not(tmp_path: Path) -> None:
    guard = _guard_for(tmp_path / "repo")
    assert guard.escapes_checkout(str(tmp_path / "beside" / "data" / "sample.json"))
    assert guard.escapes_checkout(str(tmp_path / "repo" / ".." / "beside"))
    assert not guard.escapes_checkout(str(tmp_path / "repo" / "tests" / "data" / "sample.json"))
    assert not guard.escapes_checkout(str(tmp_path / ".cache" / "fontconfig"))  # a library's dot-folder
    assert not guard.escapes_checkout("/usr/lib/python3/x.py")


def test_an_open_beside_the_checkout_is_recorded(tmp_path: Path) -> None:
    beside = tmp_path / "beside" / "data.json"
    beside.parent.mkdir()
    beside.write_text("{}")
    (tmp_path / "repo").mkdir()
    guard = _guard_for(tmp_path / "repo")
    guard.install()
    (tmp_path / "repo" / "inside.txt").write_text("x")
    os.listdir(tmp_path / "beside")
    assert beside.read_text() == "{}"
    assert guard.take_escapes() == [str(tmp_path / "beside"), str(beside)]
    assert guard.take_escapes() == []
