"""The bad-input matrix, tried for real through the app (AppTest) and the core: uploads, weights,
and the caches that keep many sessions bounded. Links with bad values are in
test_further_pages.py and bad command-line flags in test_cli.py.

Each case gets a clear message naming the problem, the app keeps serving its other pages, and
nothing is written anywhere.
"""
from __future__ import annotations

import functools
import io
import json
import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from conftest import chart, open_page
from diffusion_core import data, pretrained

pytestmark = pytest.mark.usefixtures("fresh_caches")
REPO = Path(__file__).resolve().parent.parent


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def seven(mode: str = "L", ink=255, background=0) -> Image.Image:
    image = Image.new(mode, (100, 100), background)
    ImageDraw.Draw(image).line([(20, 20), (80, 20), (40, 90)], fill=ink, width=10)
    return image


def bomb() -> bytes:
    """A 1 kB PNG whose header claims 30000x30000 pixels (900 M): it must be refused undecoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(30001 * 30), 9))
            + chunk(b"IEND", b""))


def animated_gif() -> bytes:
    frames = [seven(), seven().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def clear_sheet_with_black_ink() -> bytes:
    return encode(seven("RGBA", ink=(0, 0, 0, 255), background=(0, 0, 0, 0)))


# name -> (bytes, None if it must be accepted else a phrase the message must contain)
UPLOADS = {
    "notes.png": (b"these are not pixels at all", "not an image"),
    "empty.png": (b"", "empty"),
    "truncated.png": (encode(seven())[:200], "truncated"),
    "bomb.png": (bomb(), "too many pixels"),
    "dot.png": (encode(Image.new("L", (1, 1), 255)), "1x1 pixels"),
    "huge.png": (b"\x89PNG" + bytes(data.MAX_UPLOAD_BYTES), "at most 5 MiB"),
    "white.png": (encode(Image.new("RGB", (50, 50), "white")), "blank"),
    "black.png": (encode(Image.new("RGB", (50, 50), "black")), "blank"),
    "scan.png": (encode(seven(), "TIFF"), "not an image"),  # a TIFF behind a .png name: a format we do not open
    "scan.tiff": (encode(seven(), "TIFF"), ".tiff"),  # refused by its name already
    "sixteen-bit.png": (encode(Image.fromarray(np.asarray(seven()).astype(np.uint16) * 257)), None),
    "transparent.png": (clear_sheet_with_black_ink(), None),
    "animated.gif": (animated_gif(), None),
}


@pytest.mark.parametrize("name", list(UPLOADS))
def test_each_upload_is_prepared_or_refused_with_a_reason(name):
    content, reason = UPLOADS[name]
    if name.endswith(".tiff"):
        reason = "not an image"  # the core does not look at names
    if reason is None:
        digit = data.prepare_user_image(content)
        assert digit.shape == (28, 28) and digit.max() == 255 and np.median(digit) == 0  # light ink on black
    else:
        with pytest.raises(data.DataError, match=re.escape(reason)):
            data.prepare_user_image(content)


def test_pillows_decompression_bomb_limit_is_in_force():
    assert len(bomb()) < 2000  # 2 kB that would decode to 900 M pixels
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb()))


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if ".git" not in p.parts and "__pycache__" not in
            p.parts and ".pytest_cache" not in p.parts}


def test_the_app_answers_every_upload_and_keeps_working():
    before = tree(REPO)
    at = open_page("forward")
    at.radio(key="forward_source").set_value("upload").run()
    example = chart(at, "forward_scrubber")
    for name, (content, reason) in UPLOADS.items():
        at.file_uploader(key="forward_upload").set_value((name, content, "image/png")).run()
        assert not at.exception, (name, [e.message for e in at.exception])
        if reason is None:
            assert not at.error, name
            assert chart(at, "forward_scrubber") != example, name
        else:
            assert any(name in e.value and reason in e.value for e in at.error), (name, [e.value for e in at.error])
            assert chart(at, "forward_scrubber") == example  # the example digit stands in
    at.switch_page("ui/pages/alpha_bar.py").run()  # the other pages keep serving
    assert not at.exception and chart(at, "alpha_coefficients")
    assert tree(REPO) == before  # nothing written


# --- weights -------------------------------------------------------------------------------------
def _break_missing(weights: Path, card: Path) -> None:
    weights.unlink()


def _break_truncated(weights: Path, card: Path) -> None:
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _break_tampered(weights: Path, card: Path) -> None:
    content = bytearray(weights.read_bytes())
    content[-5] ^= 0x55
    weights.write_bytes(bytes(content))


def _break_architecture(weights: Path, card: Path) -> None:
    spec = json.loads(card.read_text())
    spec["config"]["base_channels"] += 8  # the card now describes another network than the file holds
    card.write_text(json.dumps(spec))


@pytest.mark.parametrize("damage, reason", [
    (_break_missing, "not found"), (_break_truncated, "sha256"), (_break_tampered, "sha256"),
    (_break_architecture, "does not fit"),
])
def test_broken_weights_are_a_clear_error_and_the_other_pages_still_work(damage, reason, tmp_path, monkeypatch):
    for path in pretrained.PRETRAINED_DIR.glob("mnist_*"):
        if ".ckpt." not in path.name:
            shutil.copy(path, tmp_path / path.name)
    weights, card = pretrained.paths_for(pretrained.DIFFUSION_MODEL, tmp_path)
    damage(weights, card)
    for function in ("load_diffusion_model", "load_classifier"):
        monkeypatch.setattr(pretrained, function, functools.partial(getattr(pretrained, function), directory=tmp_path))
    for function in ("read_card", "paths_for"):  # also called inside the loaders, with a positional directory
        real = getattr(pretrained, function)
        monkeypatch.setattr(pretrained, function, lambda name, directory=tmp_path, real=real: real(name, directory))
    at = open_page("reverse")
    assert not at.exception
    assert any("not available" in e.value and reason in e.value for e in at.error), [e.value for e in at.error]
    at.switch_page("ui/pages/forward.py").run()
    assert not at.exception and chart(at, "forward_scrubber")


# --- many sessions: bounded caches ---------------------------------------------------------------
def test_every_cache_of_the_app_is_bounded():
    """st.cache_data needs max_entries (or ttl) everywhere; st.cache_resource holds only the
    models, the stores (themselves bounded LRUs) and the queue."""
    sources = {p.name: p.read_text() for p in (REPO / "ui").rglob("*.py")}
    for name, source in sources.items():
        for match in re.finditer(r"@st\.cache_data\(([^)]*)\)", source):
            assert "max_entries" in match.group(1) or "ttl" in match.group(1), (name, match.group(0))
        assert "@st.cache_data\n" not in source, name
        for match in re.finditer(r"@st\.cache_resource(\([^)]*\))?\ndef (\w+)", source):
            # activity: one timestamp per session seen in the last ALONE_S seconds, pruned on every touch
            assert match.group(2) in {"_load_model", "_load_classifier", "run_store", "restore_store", "queue",
                                      "activity"} or \
                "max_entries" in (match.group(1) or ""), (name, match.group(2))


def test_the_queue_serves_in_order_and_frees_the_place_of_a_stopped_run():
    import threading
    import time

    from ui.server import TurnQueue

    queue, order, places = TurnQueue(), [], []
    first_in = threading.Event()

    def first():
        with queue.turn(lambda ahead: None):
            first_in.set()
            time.sleep(0.3)
            order.append("first")

    def second():
        first_in.wait()
        with queue.turn(places.append):
            order.append("second")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert order == ["first", "second"] and places == [1]  # the second saw one run ahead of it

    class Stopped(Exception):
        pass

    def stop(ahead):
        raise Stopped  # what a rerun does to a waiting script
    with queue.turn(lambda ahead: None):
        with pytest.raises(Stopped):
            waiter = queue.turn(stop)
            waiter.__enter__()
    with queue.turn(lambda ahead: pytest.fail("a stopped run kept its place")):
        pass


def test_activity_tells_whether_other_sessions_ran_a_page_lately():
    from ui.server import ALONE_S, Activity

    now = [0.0]
    activity = Activity(clock=lambda: now[0])
    activity.touch("a")
    assert not activity.others_active("a")  # a session alone
    activity.touch("b")
    now[0] = ALONE_S - 1
    assert activity.others_active("a") and activity.others_active(None)
    now[0] = ALONE_S + 1
    assert not activity.others_active("a")  # b has been quiet too long
    activity.touch("a")
    assert activity._seen.keys() == {"a"}  # the quiet are forgotten: the record stays bounded


def test_a_model_run_takes_every_core_only_when_its_session_is_alone(monkeypatch):
    from ui import server

    fresh = server.Activity()
    monkeypatch.setattr(server, "activity", lambda: fresh)
    monkeypatch.setattr(server, "session_id", lambda: "me")
    fresh.touch("me")
    with server.model_threads():
        assert torch.get_num_threads() == os.cpu_count()
    assert torch.get_num_threads() == server.SERVER_TORCH_THREADS
    with pytest.raises(RuntimeError), server.model_threads():  # a stopped run gives the cores back too
        raise RuntimeError
    assert torch.get_num_threads() == server.SERVER_TORCH_THREADS
    fresh.touch("a student")
    with server.model_threads():
        assert torch.get_num_threads() == server.SERVER_TORCH_THREADS
