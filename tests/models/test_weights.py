"""Weights: the real download code against a local HTTP server (with Range), checks and loading."""

from __future__ import annotations

import hashlib
import io
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from weights_server import Served, serving

from segstudio.models import weights as W


@pytest.fixture
def server() -> Iterator[tuple[Served, int]]:
    with serving() as served:
        yield served, served.port


@pytest.fixture(autouse=True)
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private torch hub folder, so tests never see (or fill) the user's cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def _tiny_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))


def _weights_bytes(seed: int = 0) -> bytes:
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save(_tiny_model().state_dict(), buffer)
    return buffer.getvalue()


def _hub_name(data: bytes, stem: str = "tiny") -> str:
    """A torchvision-style file name: the stem, then the sha256's first 8 hex digits."""
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"


@dataclass(frozen=True)
class Source:
    url: str
    sha256: str | None
    file_name: str


@dataclass(frozen=True)
class Spec:
    name: str
    weights: tuple[Source, ...]


def test_full_download_is_verified_renamed_and_loads(server: tuple[Served, int], tmp_path: Path) -> None:
    served, port = server
    data = _weights_bytes()
    name = _hub_name(data)
    served.files[name] = data
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "out" / name
    path = W.download_file(
        served.url(name),
        dest,
        sha256=hashlib.sha256(data).hexdigest(),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert path == dest and dest.read_bytes() == data
    assert not dest.with_name(name + W.PART_SUFFIX).exists()
    assert seen[-1] == (len(data), len(data))
    model = W.load_into(_tiny_model(), dest)
    torch.manual_seed(0)
    expected = _tiny_model().state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in model.state_dict().items())


def test_truncated_part_resumes_with_a_range_request(server: tuple[Served, int], tmp_path: Path) -> None:
    served, port = server
    data = _weights_bytes()
    name = _hub_name(data)
    served.files[name] = data
    dest = tmp_path / name
    half = len(data) // 2
    dest.with_name(name + W.PART_SUFFIX).write_bytes(data[:half])
    seen: list[int] = []
    W.download_file(served.url(name), dest, progress=lambda done, total: seen.append(done))
    assert served.ranges == [f"bytes={half}-"]
    assert seen[0] > half and dest.read_bytes() == data


def test_connection_cut_keeps_part_and_next_call_resumes(server: tuple[Served, int], tmp_path: Path) -> None:
    served, port = server
    data = _weights_bytes()
    name = _hub_name(data)
    served.files[name] = data
    served.cut_after = 1000
    dest = tmp_path / name
    with pytest.raises(W.WeightsError, match="run it again to resume"):
        W.download_file(served.url(name), dest)
    part = dest.with_name(name + W.PART_SUFFIX)
    assert part.stat().st_size == 1000 and not dest.exists()
    W.download_file(served.url(name), dest)
    assert served.ranges[-1] == "bytes=1000-" and dest.read_bytes() == data and not part.exists()


def test_server_ignoring_range_restarts_cleanly(server: tuple[Served, int], tmp_path: Path) -> None:
    served, port = server
    served.honour_range = False
    data = _weights_bytes()
    name = _hub_name(data)
    served.files[name] = data
    dest = tmp_path / name
    dest.with_name(name + W.PART_SUFFIX).write_bytes(b"stale bytes from an older file")
    W.download_file(served.url(name), dest)
    assert dest.read_bytes() == data


def test_complete_part_answered_416_is_finished(server: tuple[Served, int], tmp_path: Path) -> None:
    served, port = server
    data = _weights_bytes()
    name = _hub_name(data)
    served.files[name] = data
    dest = tmp_path / name
    dest.with_name(name + W.PART_SUFFIX).write_bytes(data)
    W.download_file(served.url(name), dest)
    assert dest.read_bytes() == data


@pytest.mark.parametrize("wrong", ["sha256", "name prefix"])
def test_checksum_mismatch_is_refused_and_nothing_looks_complete(
    server: tuple[Served, int], tmp_path: Path, wrong: str
) -> None:
    served, port = server
    data, other = _weights_bytes(0), _weights_bytes(1)
    name = _hub_name(other) if wrong == "name prefix" else "tiny.pth"
    served.files[name] = data
    dest = tmp_path / name
    sha = hashlib.sha256(other).hexdigest() if wrong == "sha256" else None
    with pytest.raises(W.ChecksumError, match="discarded"):
        W.download_file(served.url(name), dest, sha256=sha)
    assert list(tmp_path.iterdir()) == []


def test_server_down_says_which_file_to_place_where(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dest = tmp_path / "cache" / "tiny-0123abcd.pth"
    with pytest.raises(W.WeightsError) as caught:
        W.download_file(f"http://127.0.0.1:{port}/tiny-0123abcd.pth", dest, timeout=5)
    message = str(caught.value)
    assert "tiny-0123abcd.pth" in message and str(dest.parent) in message and "\n" not in message


def test_resolve_uses_cache_and_downloads_only_when_asked(server: tuple[Served, int], hub_dir: Path) -> None:
    served, port = server
    data = _weights_bytes()
    name = _hub_name(data)
    served.files[name] = data
    spec = Spec("tiny", (Source(served.url(name), hashlib.sha256(data).hexdigest(), name),))
    assert not W.weights_present(spec)
    with pytest.raises(W.WeightsMissing) as caught:
        W.resolve_weights(spec)
    assert name in str(caught.value) and str(hub_dir) in str(caught.value)
    assert served.ranges == []  # nothing was fetched without asking
    assert W.resolve_weights(spec, download=True) == hub_dir / name
    assert W.weights_present(spec)
    assert W.resolve_weights(spec) == hub_dir / name and len(served.ranges) == 1


def test_explicit_file_wins_and_models_without_weights_need_none(tmp_path: Path) -> None:
    local = tmp_path / "mine.pt"
    local.write_bytes(_weights_bytes())
    spec = Spec("tiny", (Source("http://127.0.0.1:9/x.pth", None, "x.pth"),))
    assert W.resolve_weights(spec, local) == local
    with pytest.raises(W.WeightsMissing, match="not found"):
        W.resolve_weights(spec, tmp_path / "absent.pt")
    assert W.resolve_weights(Spec("scratch", ()), None) is None and W.weights_present(Spec("scratch", ()))


def test_loading_checks_the_file_and_the_fit(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(W.WeightsError, match="junk.pth"):
        W.load_into(_tiny_model(), junk)
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": torch.nn.Conv2d(3, 1, 1).state_dict(), "model_name": "x"}, wrapped)
    with pytest.raises(W.WeightsError, match="does not fit"):
        W.load_into(_tiny_model(), wrapped)
    assert W.load_into(torch.nn.Conv2d(3, 1, 1), wrapped) is not None


def test_a_registered_checkpoint_is_its_own_file(tmp_path: Path) -> None:
    """A ``file://`` source (a fine-tuned checkpoint) is found where it is and never downloaded."""
    checkpoint = tmp_path / "mine" / "shapes.pt"
    spec = Spec("shapes", (Source(checkpoint.as_uri(), None, checkpoint.name),))
    assert not W.weights_present(spec)
    with pytest.raises(W.WeightsMissing, match=f"place shapes.pt in {checkpoint.parent}"):
        W.resolve_weights(spec, download=True)
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(_weights_bytes())
    assert W.weights_present(spec) and W.resolve_weights(spec) == checkpoint


def test_downloads_need_https_and_a_checksum(server: tuple[Served, int], tmp_path: Path) -> None:
    served, _ = server
    served.files["plain.pth"] = _weights_bytes()
    with pytest.raises(W.WeightsError, match="https only"):  # plain http from another computer
        W.download_file("http://example.com/tiny-0123abcd.pth", tmp_path / "a.pth", sha256="00")
    with pytest.raises(W.WeightsError, match="https only"):
        W.download_file("ftp://example.com/tiny-0123abcd.pth", tmp_path / "a.pth")
    with pytest.raises(W.WeightsError, match="no published checksum for plain.pth"):
        W.download_file(served.url("plain.pth"), tmp_path / "plain.pth")  # nothing to verify it with
    assert not list(tmp_path.glob("plain.pth*"))
    sha = hashlib.sha256(served.files["plain.pth"]).hexdigest()
    assert W.download_file(served.url("plain.pth"), tmp_path / "plain.pth", sha256=sha).is_file()


def test_every_published_weight_is_https_with_a_checksum() -> None:
    from segstudio.models import registry

    published = [s for spec in registry.list_specs() for s in spec.weights if not s.url.startswith("file:")]
    assert published  # (file: URLs are checkpoints registered from this computer)
    for source in published:
        W.check_download(source.url, source.sha256, source.file_name)  # raises for any that is not
