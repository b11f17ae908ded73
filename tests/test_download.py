"""Tests of autotag.data.download against a local HTTP server (127.0.0.1 only) with Range support."""

from __future__ import annotations

import hashlib
import http.server
import io
import random
import threading
import zipfile
from pathlib import Path

import pytest

from autotag.data import download as dl
from autotag.data.datasets.mtat import download as dl_pipeline
from autotag.data.datasets.mtat import sources as mtat
from autotag.data.datasets.mtat.completion import MANIFEST
from autotag.data.download import cli as dl_cli
from autotag.data.download import http as dl_http
from tests.helpers import run_cli
from tests.local_http import closed_port, fast_and_local, serve

PREFIX = "/datasets/magnatagatune/"


# --------------------------------------------------------------------------------------------
# a tiny fake MTAT corpus, zipped and split into three parts like the real distribution
# --------------------------------------------------------------------------------------------


def _make_corpus(src: Path) -> dict[str, bytes]:
    """Write a fake extracted MTAT under ``src``; return the served files (parts + CSVs)."""
    rng = random.Random(0)
    clips = []
    for folder in ("0", "c", "f"):
        for k in range(3):
            rel = f"{folder}/artist_{folder}{k}-album-0{k + 1}-song_{k}-{30 * k}-{30 * k + 29}.mp3"
            data = rng.randbytes(6000 + 1500 * k)
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes(data)
            clips.append(rel)
    ann = '"clip_id"\t"guitar"\t"piano"\t"mp3_path"\n' + "".join(
        f'"{i + 2}"\t"{i % 2}"\t"{(i + 1) % 2}"\t"{rel}"\n' for i, rel in enumerate(clips)
    )
    info = '"clip_id"\t"track_number"\t"title"\t"artist"\t"album"\t"mp3_path"\n' + "".join(
        f'"{i + 2}"\t"1"\t"song"\t"artist"\t"album"\t"{rel}"\n' for i, rel in enumerate(clips)
    )
    comp = '"clip1_id"\t"clip2_id"\t"clip3_id"\t"clip1_numvotes"\n"2"\t"3"\t"4"\t"1"\n'
    csvs = {
        "annotations_final.csv": ann.encode(),
        "clip_info_final.csv": info.encode(),
        "comparisons_final.csv": comp.encode(),
    }
    for name, data in csvs.items():
        (src / name).write_bytes(data)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for folder in ("0", "c", "f"):
            zf.writestr(f"{folder}/", b"")  # directory entries, as in the real archive
            for rel in sorted(c for c in clips if c.startswith(folder + "/")):
                zf.write(src / rel, rel)
    blob = buf.getvalue()
    cut1, cut2 = len(blob) // 3, 2 * len(blob) // 3
    parts = {
        "mp3.zip.001": blob[:cut1],
        "mp3.zip.002": blob[cut1:cut2],
        "mp3.zip.003": blob[cut2:],
    }
    return {**parts, **csvs}


class _State:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.requests: list[tuple[str, str | None]] = []  # (name, Range header)
        self.drop_once: set[str] = set()  # first GET sends half the body and hangs up
        self.ignore_range = False
        self.lock = threading.Lock()

    def gets(self, name: str) -> list[str | None]:
        return [r for n, r in self.requests if n == name]


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """GET with ``Range: bytes=N-`` support (206 / 416), 404 for unknown names."""

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        st: _State = self.server.state  # type: ignore[attr-defined]
        name = self.path[len(PREFIX) :] if self.path.startswith(PREFIX) else ""
        rng = self.headers.get("Range")
        with st.lock:
            st.requests.append((name, rng))
            data = st.files.get(name)
            drop = name in st.drop_once
            st.drop_once.discard(name)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and not st.ignore_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if drop:  # simulate a connection lost mid-file
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def _fast_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_and_local(monkeypatch)
    monkeypatch.setattr(dl_pipeline, "DISK_NEEDED_GB", 0.0)


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    src = tmp_path / "src"
    src.mkdir()
    return src, _make_corpus(src)


@pytest.fixture
def server(corpus: tuple[Path, dict[str, bytes]]):
    state = _State(corpus[1])
    with serve(_RangeHandler, state) as host:
        state.url = host + PREFIX  # type: ignore[attr-defined]
        yield state


def _assert_layout(root: Path, src: Path) -> None:
    expected = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    for rel in expected:
        assert (root / rel).read_bytes() == (src / rel).read_bytes(), rel
    got = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != MANIFEST
    )
    assert got == expected  # nothing else left behind (no parts, zip, .part or .tmp files)


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------


def test_full_download_join_extract(tmp_path, corpus, server, capsys):
    src, _ = corpus
    root = tmp_path / "mtat"
    assert dl_pipeline.download_mtat(root, base_url=server.url, progress=True) == root
    _assert_layout(root, src)
    assert sorted(d.name for d in root.iterdir() if d.is_dir()) == ["0", "c", "f"]
    assert (root / MANIFEST).is_file()
    assert all(r is None for _, r in server.requests)  # fresh download: no Range requests
    assert "ready" in capsys.readouterr().out


def test_keep_zip_keeps_parts_and_joined_zip(tmp_path, corpus, server):
    src, files = corpus
    root = tmp_path / "mtat"
    dl_pipeline.download_mtat(root, base_url=server.url, keep_zip=True, progress=False)
    for name in mtat.ZIP_PARTS:
        assert (root / name).read_bytes() == files[name]
    joined = b"".join(files[n] for n in mtat.ZIP_PARTS)
    assert (root / "mp3.zip").read_bytes() == joined
    assert (root / "c").is_dir() and (root / "annotations_final.csv").is_file()


def test_resume_partial_download_with_range(tmp_path, corpus, server):
    src, files = corpus
    root = tmp_path / "mtat"
    root.mkdir()
    half = len(files["mp3.zip.002"]) // 2
    (root / "mp3.zip.002.part").write_bytes(files["mp3.zip.002"][:half])
    dl_pipeline.download_mtat(root, base_url=server.url, keep_zip=True, progress=False)
    assert server.gets("mp3.zip.002") == [f"bytes={half}-"]
    assert (root / "mp3.zip.002").read_bytes() == files["mp3.zip.002"]
    assert not (root / "mp3.zip.002.part").exists()
    for p in src.rglob("*.mp3"):
        assert (root / p.relative_to(src)).read_bytes() == p.read_bytes()


def test_complete_part_file_gets_416_and_is_kept(tmp_path, corpus, server):
    _, files = corpus
    root = tmp_path / "mtat"
    root.mkdir()
    (root / "mp3.zip.003.part").write_bytes(files["mp3.zip.003"])  # finished but not renamed
    dl_pipeline.download_mtat(root, base_url=server.url, keep_zip=True, progress=False)
    assert server.gets("mp3.zip.003") == [f"bytes={len(files['mp3.zip.003'])}-"]
    assert (root / "mp3.zip.003").read_bytes() == files["mp3.zip.003"]


def test_server_without_range_support_restarts(tmp_path, corpus, server):
    src, files = corpus
    root = tmp_path / "mtat"
    root.mkdir()
    (root / "mp3.zip.001.part").write_bytes(b"garbage that must be discarded")
    server.ignore_range = True  # answers 200 with the whole file
    dl_pipeline.download_mtat(root, base_url=server.url, progress=False)
    assert server.gets("mp3.zip.001") == ["bytes=30-"]
    _assert_layout(root, src)


def test_dropped_connection_is_retried_and_resumed(tmp_path, corpus, server, capsys):
    src, files = corpus
    root = tmp_path / "mtat"
    server.drop_once = {"mp3.zip.001", "annotations_final.csv"}
    dl_pipeline.download_mtat(root, base_url=server.url, progress=False)
    gets = server.gets("mp3.zip.001")
    assert len(gets) == 2 and gets[0] is None
    assert gets[1] == f"bytes={len(files['mp3.zip.001']) // 2}-"
    assert len(server.gets("annotations_final.csv")) == 2
    assert "retry 1/" in capsys.readouterr().out
    _assert_layout(root, src)


def test_rerun_is_a_noop(tmp_path, corpus, server, capsys):
    src, _ = corpus
    root = tmp_path / "mtat"
    assert dl_cli.main(["--root", str(root), "--base-url", server.url, "--no-progress"]) == 0
    n = len(server.requests)
    capsys.readouterr()
    assert dl_cli.main(["--root", str(root), "--base-url", server.url, "--no-progress"]) == 0
    assert len(server.requests) == n  # nothing fetched
    assert "already complete" in capsys.readouterr().out
    # even with the host gone
    url = f"http://127.0.0.1:{closed_port()}/"
    assert dl_cli.main(["--root", str(root), "--base-url", url, "--no-progress"]) == 0
    assert "already complete" in capsys.readouterr().out
    _assert_layout(root, src)


def test_autotag_download_mtat_is_the_same_command(tmp_path, corpus, server, capsys):
    """`autotag download mtat` fetches and extracts as the old form does; a second run of the old
    form finds it complete (the same files, manifest and flags)."""
    src, _ = corpus
    root = tmp_path / "mtat"
    code, _, _ = run_cli(
        capsys, "download", "mtat", "--root", root, "--base-url", server.url, "--no-progress"
    )
    assert code == 0
    _assert_layout(root, src)
    n = len(server.requests)
    assert dl_cli.main(["--root", str(root), "--base-url", server.url, "--no-progress"]) == 0
    assert len(server.requests) == n and "already complete" in capsys.readouterr().out
    url = f"http://127.0.0.1:{closed_port()}/"
    code, _, err = run_cli(capsys, "download", "mtat", "--root", tmp_path / "m2", "--base-url", url)
    assert code == 2 and "cannot be reached" in err  # the old form's exit codes and message


def test_missing_clip_is_restored_skipping_the_others(tmp_path, corpus, server, capsys):
    src, _ = corpus
    root = tmp_path / "mtat"
    dl_pipeline.download_mtat(root, base_url=server.url, progress=False)
    victim = next(root.glob("c/*.mp3"))
    victim.unlink()
    capsys.readouterr()
    dl_pipeline.download_mtat(root, base_url=server.url, progress=False)
    out = capsys.readouterr().out
    assert "missing" in out and "8 of 9 files already extracted" in out
    _assert_layout(root, src)


def test_unreachable_host_exit_code_2_with_instructions(tmp_path, capsys):
    root = tmp_path / "mtat"
    url = f"http://127.0.0.1:{closed_port()}/datasets/magnatagatune/"
    rc = dl_cli.main(["--root", str(root), "--base-url", url, "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "cannot be reached" in err and url in err
    for name in mtat.DEFAULT_FILES:
        assert name in err
    assert str(root) in err and "annotations_final.csv" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # one paragraph


def test_manually_extracted_copy_is_adopted_offline(tmp_path, corpus, capsys):
    src, _ = corpus
    url = f"http://127.0.0.1:{closed_port()}/"
    assert dl_cli.main(["--root", str(src), "--base-url", url, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "found an extracted copy" in out and "already complete" in out
    assert (src / MANIFEST).is_file()


def test_manually_placed_parts_are_used_offline(tmp_path, corpus):
    src, files = corpus
    root = tmp_path / "mtat"
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    url = f"http://127.0.0.1:{closed_port()}/"
    assert dl_cli.main(["--root", str(root), "--base-url", url, "--no-progress"]) == 0
    _assert_layout(root, src)


def _corrupt_inside_part2(files: dict[str, bytes]) -> tuple[bytes, str]:
    """Flip one byte of a member's data that lies inside part 2; return (bad part, member)."""
    blob = b"".join(files[n] for n in mtat.ZIP_PARTS)
    lo = len(files["mp3.zip.001"])
    hi = lo + len(files["mp3.zip.002"])
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        for info in zf.infolist():
            start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            if info.file_size and start >= lo and start + info.compress_size <= hi:
                pos = start + info.compress_size // 2 - lo
                part = bytearray(files["mp3.zip.002"])
                part[pos] ^= 0xFF
                return bytes(part), info.filename
    raise AssertionError("no member fully inside part 2")


def test_corrupt_part_detected_by_crc_names_the_part(tmp_path, corpus, server, capsys):
    src, files = corpus
    bad, member = _corrupt_inside_part2(files)
    server.files["mp3.zip.002"] = bad
    root = tmp_path / "mtat"
    rc = dl_cli.main(["--root", str(root), "--base-url", server.url, "--no-progress"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "mp3.zip.002" in err and member in err and "corrupt" in err
    assert "mp3.zip.001" not in err and "Traceback" not in err
    assert not (root / "mp3.zip.002").exists() and not (root / "mp3.zip").exists()
    assert (root / "mp3.zip.001").exists()  # good parts are kept
    # the server is fixed: a rerun fetches only the removed part and finishes
    server.files["mp3.zip.002"] = files["mp3.zip.002"]
    n1 = len(server.gets("mp3.zip.001"))
    assert dl_cli.main(["--root", str(root), "--base-url", server.url, "--no-progress"]) == 0
    assert len(server.gets("mp3.zip.001")) == n1
    assert len(server.gets("mp3.zip.002")) == 2
    _assert_layout(root, src)


def test_corrupt_part_detected_by_known_md5(tmp_path, corpus, server, monkeypatch):
    _, files = corpus
    good = hashlib.md5(files["mp3.zip.001"]).hexdigest()
    monkeypatch.setitem(mtat.KNOWN_MD5, "mp3.zip.001", good)
    server.files["mp3.zip.001"] = b"X" + files["mp3.zip.001"][1:]
    root = tmp_path / "mtat"
    with pytest.raises(dl.CorruptDataError, match=r"mp3\.zip\.001 is corrupt: md5") as exc:
        dl_pipeline.download_mtat(root, base_url=server.url, progress=False)
    assert exc.value.files == ["mp3.zip.001"]
    assert not (root / "mp3.zip.001").exists() and not (root / "mp3.zip.001.part").exists()


def test_html_instead_of_csv_is_rejected(tmp_path, corpus, server):
    server.files["annotations_final.csv"] = b"<!DOCTYPE html><html>login</html>\n"
    root = tmp_path / "mtat"
    with pytest.raises(dl.DownloadError, match="annotations_final.csv does not look like"):
        dl_pipeline.download_mtat(root, base_url=server.url, progress=False)
    assert not (root / "annotations_final.csv").exists()


def test_http_404_is_a_clear_error(tmp_path, corpus, server, capsys):
    del server.files["clip_info_final.csv"]
    rc = dl_cli.main(["--root", str(tmp_path / "m"), "--base-url", server.url, "--no-progress"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "clip_info_final.csv" in err and "404" in err and "Traceback" not in err


def test_no_extract_only_downloads(tmp_path, corpus, server):
    _, files = corpus
    root = tmp_path / "mtat"
    assert dl_cli.main(["--root", str(root), "--base-url", server.url, "--no-extract"]) == 0
    assert sorted(p.name for p in root.iterdir()) == sorted(files)
    for name, data in files.items():
        assert (root / name).read_bytes() == data


def test_only_csv_files(tmp_path, corpus, server):
    _, files = corpus
    root = tmp_path / "mtat"
    dl_pipeline.download_mtat(root, base_url=server.url, files=list(mtat.CSV_FILES), progress=False)
    assert sorted(p.name for p in root.iterdir()) == sorted(mtat.CSV_FILES)
    assert {n for n, _ in server.requests} == set(mtat.CSV_FILES)


def test_content_range_parser():
    assert dl_http._parse_content_range("bytes 10-99/100") == (10, 100)
    assert dl_http._parse_content_range("bytes */100") == (None, 100)
    assert dl_http._parse_content_range("bytes 0-9/*") == (0, None)
    assert dl_http._parse_content_range(None) == (None, None)
