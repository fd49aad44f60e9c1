"""``segstudio models`` through ``segstudio.cli.main``: JSON keys, names, weights presence, table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segstudio import cli

KEYS = {"name", "task", "classes", "weights", "weights_present", "palette", "output", "description"}


@pytest.fixture(autouse=True)
def only_models_registered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Just the models command, and an empty torch hub folder of our own."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("segstudio.commands.models",))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def _rows(capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    assert cli.main(["models", "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


def test_json_lists_every_model_with_its_keys(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(capsys)
    assert {"fcn8s", "unet", "deeplabv3plus", "panoptic_fpn", "maskrcnn_resnet50_fpn_v2"} <= set(rows)
    for row in rows.values():
        assert set(row) >= KEYS
        assert row["task"] in {"semantic", "instance", "panoptic", "body-parts", "promptable"}
        assert all(isinstance(name, str) for name in row["classes"])
        for source in row["weights"]:
            assert set(source) == {"url", "sha256", "file_name"}
    assert rows["fcn_resnet50"]["classes"][1] == "aeroplane" and len(rows["maskrcnn"]["classes"]) == 91


def test_weights_present_follows_the_hub_cache(
    capsys: pytest.CaptureFixture[str], only_models_registered: Path
) -> None:
    rows = _rows(capsys)
    assert rows["unet"]["weights_present"] is True  # random init: nothing to fetch
    assert rows["deeplabv3_resnet50"]["weights_present"] is False
    only_models_registered.mkdir(parents=True)
    (only_models_registered / rows["deeplabv3_resnet50"]["weights"][0]["file_name"]).write_bytes(b"x")
    assert _rows(capsys)["deeplabv3_resnet50"]["weights_present"] is True


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "panoptic_fpn" in out and "missing" in out and "fcn32s" in out
    line = next(line for line in out.splitlines() if line.startswith("maskrcnn "))
    assert line.split()[1:4] == ["instance", "91", "missing"]


def test_download_fetches_published_weights_and_names_failures(
    capsys: pytest.CaptureFixture[str], only_models_registered: Path
) -> None:
    import dataclasses
    import hashlib

    from weights_server import serving

    from segstudio.models import registry

    data = bytes(range(256)) * 8192  # 2 MiB: a few progress lines
    name = f"published-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    with serving() as served:
        served.files[name] = data
        source = registry.WeightSource(served.url(name), hashlib.sha256(data).hexdigest(), name)
        spec = dataclasses.replace(registry.get_spec("unet-small"), name="published-test", weights=(source,))
        registry.register(spec, replace=True)
        try:
            assert cli.main(["models", "--download", "published-test"]) == 0
            out, err = capsys.readouterr()
            assert out.strip() == f"published-test: {only_models_registered / name}"
            assert "2/2 published-test (MiB)" in err
            assert (only_models_registered / name).read_bytes() == data
            assert _rows(capsys)["published-test"]["weights_present"] is True
            assert cli.main(["models", "--download", "unet"]) != 0  # random init: nothing published
            assert "no published weights" in capsys.readouterr().err
            assert cli.main(["models", "--download", "no-such-model"]) != 0
            assert "no-such-model" in capsys.readouterr().err
        finally:
            registry.unregister("published-test")
