"""Downloads, resumes, checksums and safe extraction, against a local HTTP server (no network)."""

import hashlib
import http.server
import importlib
import io
import shutil
import stat
import tarfile
import threading
import zipfile

import pytest

from dermnet import cli, datasets
from dermnet.data.errors import DataError

# import_module, not `from dermnet.data import download`: the package re-exports the function
# `download` under the module's name
dl = importlib.import_module("dermnet.data.download")


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET of the server's `files`, with `Range: bytes=N-` unless the server ignores ranges."""

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range") and server.honour_range:
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        # `truncate` bytes short: a connection that drops mid-download
        self.wfile.write(body[start : len(body) - server.truncate])

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.honour_range, httpd.truncate = {}, [], True, 0
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _zip(members):
    """Zip bytes of {name: bytes}."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zip_file:
        for name, data in members.items():
            zip_file.writestr(name, data)
    return buffer.getvalue()


def _tar(path, members):
    """Write a .tar.gz of TarInfo-s (their data is b"x" for files)."""
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"x") if info.isfile() else None)
    return path


def _info(name, type=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = type, linkname, 1 if type == tarfile.REGTYPE else 0
    return info


PAYLOAD = bytes(range(256)) * 400  # 100 kB, not all alike: a misplaced byte shows


def test_a_zip_downloads_and_extracts_and_a_rerun_fetches_nothing(server, tmp_path):
    server.files["/set.zip"] = _zip({"set/ISIC_0000001.jpg": b"jpeg", "set/labels.csv": b"id\n"})
    archive = datasets.Archive(server.url + "/set.zip", "set.zip")
    assert dl.download("tiny", tmp_path, archives=[archive], progress=False) == tmp_path
    assert (tmp_path / "set" / "ISIC_0000001.jpg").read_bytes() == b"jpeg"
    assert (tmp_path / "downloads" / "set.zip.extracted").exists()
    dl.download("tiny", tmp_path, archives=[archive], progress=False)
    assert len(server.requests) == 1


def test_a_partial_download_resumes_with_range(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    half = len(PAYLOAD) // 2
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:half])
    dl.download_file(server.url + "/f.bin", tmp_path / "f.bin", size=len(PAYLOAD), progress=False)
    assert server.requests == [("/f.bin", f"bytes={half}-")]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert not (tmp_path / "f.bin.part").exists()


def test_a_server_ignoring_range_still_gives_the_right_file(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.honour_range = False
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:1000])
    dl.download_file(server.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert server.requests[0][1] == "bytes=1000-"
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_a_complete_part_answered_416_is_finished(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    dl.download_file(server.url + "/f.bin", tmp_path / "f.bin", md5=md5, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_a_dropped_connection_keeps_the_part_and_a_rerun_resumes(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.truncate = 1000
    with pytest.raises(OSError, match=r"f\.bin.*closed.*f\.bin\.part is kept and a rerun resumes"):
        dl.download_file(server.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin.part").stat().st_size == len(PAYLOAD) - 1000
    server.truncate = 0
    dl.download_file(server.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert server.requests[-1][1] == f"bytes={len(PAYLOAD) - 1000}-"
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_a_wrong_md5_is_refused_and_deleted(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    with pytest.raises(DataError, match=r"f\.bin.*md5 [0-9a-f]{32}, expected 0{32}"):
        dl.download_file(server.url + "/f.bin", tmp_path / "f.bin", md5="0" * 32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_size_is_refused(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    with pytest.raises(DataError, match=rf"f\.bin.*{len(PAYLOAD):,}.*{len(PAYLOAD) + 1:,}"):
        dl.download_file(server.url + "/f.bin", tmp_path / "f.bin", size=len(PAYLOAD) + 1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_complete_file_is_not_fetched_again(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    for _ in range(2):
        dl.download_file(server.url + "/f.bin", tmp_path / "f.bin", size=len(PAYLOAD), progress=False)
    assert len(server.requests) == 1


def test_a_missing_file_names_the_url(server, tmp_path):
    with pytest.raises(OSError, match="/nothing.zip.*404"):
        dl.download_file(server.url + "/nothing.zip", tmp_path / "nothing.zip", progress=False)


def test_a_zip_escaping_with_dotdot_writes_nothing(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip({"good.txt": b"ok", "../evil.txt": b"pwned"}))
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"evil\.zip.*\.\./evil\.txt"):
        dl.safe_extract(archive, root)
    assert not root.exists() and not (tmp_path / "evil.txt").exists()


def test_a_zip_with_an_absolute_path_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zip_file:
        # writestr("/x") would strip the slash; a ZipInfo keeps it, as a hand-made archive can
        zip_file.writestr(zipfile.ZipInfo(str(tmp_path / "abs.txt")), b"pwned")
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(DataError, match="outside"):
        dl.safe_extract(archive, tmp_path / "root")
    assert not (tmp_path / "abs.txt").exists() and not (tmp_path / "root").exists()


def test_a_zip_symlink_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zip_file:
        link = zipfile.ZipInfo("link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zip_file.writestr(link, "/etc/passwd")
    (tmp_path / "link.zip").write_bytes(buffer.getvalue())
    with pytest.raises(DataError, match="'link'.*symlink"):
        dl.safe_extract(tmp_path / "link.zip", tmp_path / "root")


@pytest.mark.parametrize(
    "unsafe",
    [
        _info("link", tarfile.SYMTYPE, "/etc/passwd"),
        _info("hard", tarfile.LNKTYPE, "ok.txt"),
        _info("fifo", tarfile.FIFOTYPE),
        _info("../evil.txt"),
        _info("ABSOLUTE"),
    ],
    ids=["symlink", "hard-link", "fifo", "dotdot", "absolute"],
)
def test_unsafe_tar_members_are_refused_before_writing(tmp_path, unsafe):
    if unsafe.name == "ABSOLUTE":  # under tmp_path, so that a failing test writes nowhere shared
        unsafe = _info(str(tmp_path / "evil.txt"))
    archive = _tar(tmp_path / "evil.tar.gz", [_info("ok.txt"), unsafe])
    root = tmp_path / "root"
    with pytest.raises(DataError, match=rf"evil\.tar\.gz.*{unsafe.name}"):
        dl.safe_extract(archive, root)
    assert not root.exists() and not (tmp_path / "evil.txt").exists()


def test_archive_bombs_are_refused_before_writing(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zip_file:
        zip_file.writestr("zeros.bin", bytes(20_000_000))  # 20 MB of zeros pack into ~20 kB
    (tmp_path / "bomb.zip").write_bytes(buffer.getvalue())
    with tarfile.open(tmp_path / "bomb.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 20_000_000
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    for name in ("bomb.zip", "bomb.tar.gz"):
        with pytest.raises(
            DataError, match=rf"{name}: refusing to extract: its members add up to 20,000,000 bytes"
        ):
            dl.safe_extract(tmp_path / name, tmp_path / "root")
    assert not (tmp_path / "root").exists()


def test_an_archive_larger_than_the_free_space_is_refused(tmp_path, monkeypatch):
    (tmp_path / "set.zip").write_bytes(_zip({"set/a.jpg": PAYLOAD}))
    monkeypatch.setattr(
        dl.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000)
    )
    with pytest.raises(DataError, match=r"set.zip: extracting needs 0.00 GB and .* has 0.00 GB free"):
        dl.safe_extract(tmp_path / "set.zip", tmp_path / "root")


def test_a_plain_tar_extracts(tmp_path):
    archive = _tar(tmp_path / "set.tgz", [_info("set", tarfile.DIRTYPE), _info("set/a.jpg")])
    dl.safe_extract(archive, tmp_path / "root")
    assert (tmp_path / "root" / "set" / "a.jpg").read_bytes() == b"x"


def test_cli_data_download(server, tmp_path, monkeypatch, capsys):
    server.files["/set.zip"] = _zip({"set/ISIC_0000001.jpg": b"jpeg"})
    tiny = datasets.Dataset(
        "tiny", "classification", "manifest", archives=(datasets.Archive(server.url + "/set.zip", "set.zip"),)
    )
    monkeypatch.setitem(datasets.DATASETS, "tiny", tiny)
    assert cli.main(["data", "download", "tiny", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "set" / "ISIC_0000001.jpg").exists()
    assert str(tmp_path) in capsys.readouterr().out
    assert cli.main(["data", "download", "no_such_set", "--root", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "no_such_set" in error and "isic2018_task3_test" in error and len(error.splitlines()) == 1


def test_the_isic_archives_are_well_formed():
    for name, dataset in datasets.DATASETS.items():
        assert bool(dataset.archives) == (dataset.layout != "synthetic" and not dataset.manual), name
        for archive in dataset.archives:
            assert archive.url.startswith("https://isic-challenge-data.s3.amazonaws.com/20"), archive
            assert archive.url.endswith("/" + archive.filename) and archive.filename.endswith(
                (".zip", ".csv")
            )
