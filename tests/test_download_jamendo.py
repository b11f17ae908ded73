"""Tests of the MTG-Jamendo downloader against a local HTTP server (127.0.0.1, with Range)."""

from __future__ import annotations

import hashlib
import http.server
import io
import random
import tarfile
import threading
from pathlib import Path

import pytest

from autotag.data.datasets.jamendo import sources as jm
from autotag.data.datasets.jamendo.download import download_jamendo
from autotag.data.download import archive as dl_archive
from autotag.data.download import cli as dl_cli
from autotag.data.download.errors import CorruptDataError
from tests.local_http import closed_port, fast_and_local, serve

META = "/meta/"  # stands for raw.githubusercontent.com/MTG/mtg-jamendo-dataset/<commit>/
CDN = "/cdn/"  # stands for cdn.freesound.org/mtg-jamendo/
HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"
PARTS = (0, 1, 2)
BAD = "raw_30s_audio-01.tar"


def _tar(members: dict[str, bytes], folders: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for d in folders:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tf.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha_list(files: dict[str, bytes]) -> bytes:
    return "".join(f"{_sha(d)} {n}\n" for n, d in files.items()).encode()


class Corpus:
    """The served files (URL path -> bytes) and the fake tracks (``NN/<id>.mp3`` -> bytes)."""

    def __init__(self) -> None:
        rng = random.Random(0)
        self.tracks: dict[str, bytes] = {}
        self.tars: dict[str, bytes] = {}
        for nn in PARTS:
            members = {
                f"{nn:02d}/{1000 * nn + k}.mp3": rng.randbytes(2000 + 500 * k) for k in (1, 2, 3)
            }
            self.tracks |= members
            self.tars[f"raw_30s_audio-{nn:02d}.tar"] = _tar(members, (f"{nn:02d}",))
        self.target = (HEADER + "track_0001000\t1\t2\t01/1000.mp3\t30.0\tgenre---rock\n").encode()
        self.files: dict[str, bytes] = {}
        for local, remote in jm.metadata_files("audio").items():
            self.files[META + remote] = (HEADER + f"track_0000001\t1\t1\t{local}\t1\tx\n").encode()
        self.files[META + jm.AUTOTAGGING_TARGET] = self.target
        # the git symlink, as raw.githubusercontent.com serves it: must not be used
        self.files[META + "data/autotagging.tsv"] = b"raw_30s_cleantags_50artists.tsv"
        self.files[META + jm.sha256_list("audio", "tars")] = _sha_list(self.tars)
        self.files[META + jm.sha256_list("audio", "tracks")] = _sha_list(self.tracks)
        for name, data in self.tars.items():
            self.files[self.tar_path(name)] = data

    @staticmethod
    def tar_path(name: str) -> str:
        return f"{CDN}raw_30s/audio/{name}"


class _State:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.lock = threading.Lock()

    def gets(self, path: str) -> list[str | None]:
        return [r for p, r in self.requests if p == path]


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """GET with ``Range: bytes=N-`` support (206 / 416), 404 for unknown paths."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        st: _State = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        with st.lock:
            st.requests.append((self.path, rng))
            data = st.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        if start >= len(data) > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if rng:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture(autouse=True)
def _fast_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_and_local(monkeypatch)


@pytest.fixture
def corpus() -> Corpus:
    return Corpus()


@pytest.fixture
def server(corpus: Corpus):
    state = _State(corpus.files)
    with serve(_RangeHandler, state) as host:
        state.meta, state.cdn = host + META, host + CDN  # type: ignore[attr-defined]
        yield state


def _argv(root: Path, server: _State, *extra: str) -> list[str]:
    return [
        "dataset=jamendo",
        f"root={root}",
        f"metadata_url={server.meta}",  # type: ignore[attr-defined]
        f"base_url={server.cdn}",  # type: ignore[attr-defined]
        "no_progress=true",
        *extra,
    ]


def _audio_files(root: Path) -> dict[str, bytes]:
    audio = root / "audio"
    return {
        p.relative_to(audio).as_posix(): p.read_bytes() for p in audio.rglob("*") if p.is_file()
    }


def _files_under(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------------------------


def test_bad_part_is_caught_others_extracted_rerun_fetches_only_it(
    tmp_path, corpus, server, capsys
):
    good_tar = corpus.tars[BAD]
    server.files[corpus.tar_path(BAD)] = b"\x00" * 10 + good_tar[10:]  # corrupt on the server
    root = tmp_path / "jamendo"
    assert dl_cli.main(_argv(root, server)) == 1
    out, err = capsys.readouterr()
    assert BAD in err and "raw_30s_audio-00.tar" not in err and "Traceback" not in err
    assert _sha(good_tar) in err  # the expected hash ...
    assert _sha(server.files[corpus.tar_path(BAD)]) in err  # ... and the one received
    assert BAD in out  # also said when it happened
    want = {k: v for k, v in corpus.tracks.items() if not k.startswith("01/")}
    assert _audio_files(root) == want  # good parts extracted, the bad one not
    assert not (root / "tars" / BAD).exists() and not (root / "tars" / (BAD + ".part")).exists()
    assert not list((root / "tars").glob("*.tar"))  # extracted tars deleted
    # the server is fixed: a rerun downloads only the failed part
    server.files[corpus.tar_path(BAD)] = good_tar
    n = len(server.requests)
    assert dl_cli.main(_argv(root, server)) == 0
    assert [p for p, _ in server.requests[n:]] == [corpus.tar_path(BAD)]
    assert _audio_files(root) == corpus.tracks
    assert not (root / "tars").exists()
    # a third run is a no-op, even offline
    capsys.readouterr()
    url = f"http://127.0.0.1:{closed_port()}/"
    n = len(server.requests)
    argv = [*_argv(root, server), f"base_url={url}", f"metadata_url={url}"]
    assert dl_cli.main(argv) == 0
    assert len(server.requests) == n and "already complete" in capsys.readouterr().out


def test_a_changed_track_refetches_only_its_part(tmp_path, corpus, server, capsys):
    root = tmp_path / "jamendo"
    assert dl_cli.main(_argv(root, server)) == 0
    victim = root / "audio" / "02" / "2001.mp3"
    victim.write_bytes(victim.read_bytes()[:100])  # a track cut short after the download
    capsys.readouterr()
    n = len(server.requests)
    assert dl_cli.main(_argv(root, server)) == 0
    assert [p for p, _ in server.requests[n:]] == [corpus.tar_path("raw_30s_audio-02.tar")]
    assert "02/2001.mp3" in capsys.readouterr().out  # named when its part's mark is dropped
    assert _audio_files(root) == corpus.tracks


def test_metadata_layout_and_autotagging_from_symlink_target(tmp_path, corpus, server):
    root = tmp_path / "jamendo"
    download_jamendo(root, metadata_url=server.meta, metadata_only=True, progress=False)
    assert (root / "data" / "autotagging.tsv").read_bytes() == corpus.target
    assert not server.gets(META + "data/autotagging.tsv")  # the symlink itself is never fetched
    expected = set(jm.metadata_files("audio"))
    assert len(expected) == 1 + 4 + 75 + 2
    assert _files_under(root) == expected
    assert "data/splits/split-4/autotagging_moodtheme-validation.tsv" in expected
    assert not server.gets(Corpus.tar_path("raw_30s_audio-00.tar"))


def test_symlink_text_instead_of_tsv_is_rejected(tmp_path, corpus, server):
    server.files[META + jm.AUTOTAGGING_TARGET] = b"raw_30s_cleantags_50artists.tsv"
    root = tmp_path / "jamendo"
    with pytest.raises(CorruptDataError, match="autotagging.tsv: expected a header"):
        download_jamendo(root, metadata_url=server.meta, metadata_only=True, progress=False)
    assert not (root / "data" / "autotagging.tsv").exists()


def test_resumed_part_file_gives_the_right_bytes(tmp_path, corpus, server):
    root = tmp_path / "jamendo"
    name = "raw_30s_audio-02.tar"
    data = corpus.tars[name]
    half = len(data) // 2
    (root / "tars").mkdir(parents=True)
    (root / "tars" / (name + ".part")).write_bytes(data[:half])
    kw = {"metadata_url": server.meta, "base_url": server.cdn, "progress": False}
    download_jamendo(root, folders=[2], keep_tars=True, **kw)
    assert server.gets(Corpus.tar_path(name)) == [f"bytes={half}-"]
    assert (root / "tars" / name).read_bytes() == data
    assert _audio_files(root) == {k: v for k, v in corpus.tracks.items() if k.startswith("02/")}


@pytest.mark.parametrize("evil", ["../evil.mp3", "ABSOLUTE"])
def test_unsafe_tar_is_refused_nothing_written_outside(tmp_path, corpus, server, capsys, evil):
    outside = tmp_path / "outside"
    outside.mkdir()
    member = str(outside / "abs.mp3") if evil == "ABSOLUTE" else evil
    root = tmp_path / "jamendo"
    name = "raw_30s_audio-00.tar"
    bad = _tar({"00/1.mp3": b"fine", member: b"evil"}, ("00",))
    corpus.tars[name] = bad
    server.files[Corpus.tar_path(name)] = bad
    server.files[META + jm.sha256_list("audio", "tars")] = _sha_list(corpus.tars)  # sha256 ok
    before = _files_under(tmp_path) - _files_under(root)
    assert dl_cli.main(_argv(root, server, "folders=0")) == 1
    err = capsys.readouterr().err
    assert name in err and member in err and "refusing" in err
    assert _files_under(tmp_path) - {f"jamendo/{p}" for p in _files_under(root)} == before
    assert not (root / "audio" / "00" / "1.mp3").exists()  # nothing at all from that tar
    assert not (tmp_path / "evil.mp3").exists() and not (outside / "abs.mp3").exists()


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "device", "fifo"])
def test_extract_tar_refuses_links_and_devices(tmp_path, kind):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("00/x.mp3")
        info.type = {
            "symlink": tarfile.SYMTYPE,
            "hardlink": tarfile.LNKTYPE,
            "device": tarfile.CHRTYPE,
            "fifo": tarfile.FIFOTYPE,
        }[kind]
        info.linkname = "/etc/passwd" if "link" in kind else ""
        tf.addfile(info)
    path = tmp_path / "t.tar"
    path.write_bytes(buf.getvalue())
    with pytest.raises(CorruptDataError, match=r"t\.tar: refusing to extract member '00/x.mp3'"):
        dl_archive.extract_tar(path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_track_not_matching_the_tracks_list_fails_the_part(tmp_path, corpus, server, capsys):
    tracks = dict(corpus.tracks)
    tracks["02/2001.mp3"] = b"other bytes"
    server.files[META + jm.sha256_list("audio", "tracks")] = _sha_list(tracks)
    root = tmp_path / "jamendo"
    assert dl_cli.main(_argv(root, server)) == 1
    err = capsys.readouterr().err
    assert "raw_30s_audio-02.tar" in err and "02/2001.mp3" in err
    assert not (root / "audio" / "02" / "2001.mp3").exists()
    assert (root / "tars" / "raw_30s_audio-02.tar").is_file()  # kept: extracted again next run


def test_unreachable_host_exit_2_names_host(tmp_path, capsys):
    port = closed_port()
    root = tmp_path / "jamendo"
    rc = dl_cli.main(["--dataset", "jamendo", "--root", str(root), "--no-progress",
                      "--metadata-url", f"http://127.0.0.1:{port}/x/"])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert f"cannot reach 127.0.0.1:{port}" in err and "resume" in err
    assert "--metadata-url" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_no_extract_keeps_verified_tars(tmp_path, corpus, server):
    root = tmp_path / "jamendo"
    assert dl_cli.main(_argv(root, server, "no_extract=true", "folders=0,2")) == 0
    assert sorted(p.name for p in (root / "tars").iterdir()) == [
        "raw_30s_audio-00.tar",
        "raw_30s_audio-02.tar",
    ]
    assert not (root / "audio").exists()


def test_key_value_tokens_parse():
    argv = ["dataset=jamendo", "audio=audio-low", "root=/data/jamendo", "folders=0-9"]
    argv += ["keep_tars=true", "no_progress=false", "--base-url", "http://h/?a=b"]
    got = dl_cli.rewrite_key_values(argv)
    assert got == [
        "--dataset", "jamendo", "--audio", "audio-low", "--root", "/data/jamendo",
        "--folders", "0-9", "--keep-tars", "--base-url", "http://h/?a=b",
    ]  # fmt: skip
    args = dl_cli.parser("jamendo", dl_cli.downloads()["jamendo"]).parse_args(got)
    assert (args.audio, args.root, args.folders) == ("audio-low", "/data/jamendo", "0-9")
    assert args.keep_tars and not args.no_progress and args.base_url == "http://h/?a=b"
    defaults = dl_cli.parser("jamendo", dl_cli.downloads()["jamendo"]).parse_args([])
    assert defaults.audio == "audio" and defaults.base_url == jm.AUDIO_URL
    assert jm.METADATA_COMMIT in defaults.metadata_url and defaults.root == "data/jamendo"
    assert jm.parse_folders("0-9") == list(range(10)) and jm.parse_folders("3,7") == [3, 7]
    assert jm.parse_folders("all") is None
    assert jm.part_url(jm.AUDIO_URL, "audio-low", "raw_30s_audio-low-07.tar") == (
        "https://cdn.freesound.org/mtg-jamendo/raw_30s/audio-low/raw_30s_audio-low-07.tar"
    )


def test_bad_folders_spec_exit_1(tmp_path, capsys):
    assert dl_cli.main(["dataset=jamendo", f"root={tmp_path}", "folders=5-100"]) == 1
    assert "numbered 0 to 99" in capsys.readouterr().err


def test_http_404_for_a_part_is_a_clear_error(tmp_path, corpus, server, capsys):
    del server.files[Corpus.tar_path("raw_30s_audio-00.tar")]
    assert dl_cli.main(_argv(tmp_path / "jamendo", server)) == 1
    err = capsys.readouterr().err
    assert "raw_30s_audio-00.tar" in err and "404" in err and "--base-url" in err
    assert jm.MIRROR_URL in err and "Traceback" not in err


def test_a_part_placed_by_hand_is_checked_before_it_is_extracted(tmp_path, server, corpus):
    root = tmp_path / "jamendo"
    assert dl_cli.main(_argv(root, server, "--metadata-only")) == 0
    first = sorted(n for n in corpus.files if n.endswith(".tar"))[0].rsplit("/", 1)[-1]
    (root / "tars").mkdir(parents=True, exist_ok=True)
    (root / "tars" / first).write_bytes(b"not the published tar")
    assert dl_cli.main(_argv(root, server)) == 1
    assert not (root / "tars" / first).exists()  # removed; the rerun downloads it
    assert dl_cli.main(_argv(root, server)) == 0
