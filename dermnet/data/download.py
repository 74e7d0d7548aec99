"""Download the public ISIC archives, resumably and checked, and extract them safely.

Example:
>>> from dermnet.data.download import download
>>> root = download("isic2018_task3_test", "~/data/isic")  # doctest: +SKIP
"""

import hashlib
import http.client
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from dermnet import datasets
from dermnet._progress import progress as progress_bar
from dermnet.data.errors import DataError


def _mismatch(path, size, md5):
    """What is wrong with `path` against its known size and md5, or None when nothing is."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"size {actual:,} bytes, expected {size:,}"
    if md5 is not None:
        digest = hashlib.md5()
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != md5.lower():
            return f"md5 {digest.hexdigest()}, expected {md5}"
    return None


def _network_error(url, part, reason):
    kept = f"; the partial download {part} is kept and a rerun resumes it" if part.exists() else ""
    return OSError(f"downloading {url} failed: {reason}{kept}")


def download_file(url, dest, size=None, md5=None, progress=True):
    """Download `url` to `dest` through `dest.part`, resuming a partial download.

    Args:
        url: the file's address.
        dest: where the complete file goes; if it is there already and matches, nothing is fetched.
        size: the expected size in bytes, or None to trust the server's Content-Length.
        md5: the expected md5 hex digest, or None to skip the check.
        progress: print a progress line on stderr.

    Returns:
        `dest` as a Path.

    Raises:
        DataError: the file does not have the expected size or md5 (the bad file is deleted).
        OSError: the network failed; the partial download is kept and a rerun resumes it.
    """
    dest = Path(dest)
    if dest.exists() and _mismatch(dest, size, md5) is None:
        return dest
    part = dest.with_name(dest.name + ".part")
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    total = None
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            if response.status != 206:  # a server that ignores Range sends everything again
                done = 0
            length = response.headers.get("Content-Length")
            total = done + int(length) if length is not None else None
            with (
                open(part, "ab" if done else "wb") as file,
                progress_bar(
                    total,
                    f"downloading {dest.name}",
                    unit="B",
                    enabled=progress,
                    unit_scale=True,
                    initial=done,
                ) as bar,
            ):
                while chunk := response.read(1 << 20):
                    file.write(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as err:
        # 416: the part already holds every byte (Content-Range: bytes */TOTAL says how many)
        if not (err.code == 416 and done):
            raise _network_error(url, part, err) from err
        total = int(err.headers.get("Content-Range", "*/0").split("/")[-1] or 0) or None
    except (OSError, http.client.HTTPException) as err:
        raise _network_error(url, part, err) from err
    got = part.stat().st_size
    if total is not None and got < total:
        raise _network_error(url, part, f"the connection closed at {got:,} of {total:,} bytes")
    problem = _mismatch(part, size if size is not None else total, md5)
    if problem:
        part.unlink()
        raise DataError(f"{dest.name} from {url}: {problem}; deleted the bad download")
    part.replace(dest)
    return dest


def _check_member(archive, base, name, unsafe_kind=None):
    """Raise DataError if member `name` is of an unsafe kind (a link...) or would land outside `base`."""
    if unsafe_kind:
        raise DataError(f"{archive}: refusing to extract {name!r}: it is {unsafe_kind}")
    target = (base / name).resolve()
    if target != base and base not in target.parents:
        raise DataError(f"{archive}: refusing to extract {name!r}: it would land outside {base}")


# Deflate packs at most ~1,000:1; image archives expand ~1:1 and CSV ones ~10:1. An archive that
# would grow past both limits is a zip bomb or a wrong file.
MAX_EXPANSION = 100
_SMALL = 10_000_000  # bytes any archive may expand to


def _check_expansion(archive, expanded, root):
    """Refuse, before writing, an archive whose members add up to more than `MAX_EXPANSION` times its
    size (beyond `_SMALL`) or than the free space under `root`."""
    packed = archive.stat().st_size
    if expanded > max(MAX_EXPANSION * packed, _SMALL):
        raise DataError(
            f"{archive}: refusing to extract: its members add up to {expanded:,} bytes, "
            f"{expanded / max(packed, 1):,.0f} times its size of {packed:,} bytes (a zip bomb, or a "
            f"wrong file; the limit is {MAX_EXPANSION}×, dermnet.data.download.MAX_EXPANSION)"
        )
    existing = next(p for p in (root, *root.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if expanded > free:
        raise DataError(
            f"{archive}: extracting needs {expanded / 1e9:.2f} GB and {existing} has "
            f"{free / 1e9:.2f} GB free: free some space, or give a --root on a larger disk"
        )


def safe_extract(archive, root):
    """Extract a zip or tar (.tar, .tar.gz, .tgz) archive into `root`, refusing unsafe members.

    Every member is checked before anything is written, so a malicious archive writes nothing.

    Args:
        archive: the archive file.
        root: the folder to extract into (created if missing).

    Raises:
        DataError: a member would land outside `root` (absolute path, `..`), is a symlink or hard
            link, or is a device or fifo; the members add up to more than `MAX_EXPANSION` times the
            archive's size or than the free disk space; or the file is neither a zip nor a tar archive.
    """
    archive, root = Path(archive), Path(root)
    base = root.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zip_file:
            for info in zip_file.infolist():
                # zip keeps the Unix file type in the high 16 bits of external_attr
                link = stat.S_ISLNK(info.external_attr >> 16)
                _check_member(archive, base, info.filename, "a symlink" if link else None)
            # zipfile writes no more than each member's declared size (and checks its CRC)
            _check_expansion(archive, sum(info.file_size for info in zip_file.infolist()), root)
            root.mkdir(parents=True, exist_ok=True)
            zip_file.extractall(root)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                kind = (
                    "a link"
                    if member.issym() or member.islnk()
                    else None
                    if member.isfile() or member.isdir()
                    else "a device or fifo"
                )
                _check_member(archive, base, member.name, kind)
            _check_expansion(archive, sum(member.size for member in members if member.isfile()), root)
            root.mkdir(parents=True, exist_ok=True)
            # The "data" filter (Python 3.12, backported to 3.10.12) also drops setuid bits and owners.
            safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(root, members, **safety)
    else:
        raise DataError(f"{archive}: not a zip or tar archive (a failed or wrong download?)")


_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


def download(name, root, archives=None, progress=True):
    """Download and extract the archives of a data set into `root`; a rerun skips finished archives.

    Archives go to `root/downloads/`, their contents to `root`; `root/downloads/<file>.extracted`
    marks an archive as done. A file that is not an archive (a ground-truth CSV) stays in
    `root/downloads/`, where the data set's reader finds it.

    Args:
        name: a data set of `dermnet.datasets.DATASETS`, e.g. "isic2018_task3_test".
        root: the data folder.
        archives: `dermnet.datasets.Archive` entries to use instead of the record's (for tests and mirrors).
        progress: print progress lines on stderr.

    Returns:
        `root` as a Path.
    """
    if archives is None:
        record = datasets.get(name)
        if record.manual:
            raise DataError(
                f"dermnet cannot download {name} (no public archive it may fetch): get it by hand "
                f"from {record.manual}"
            )
        archives = record.archives
    root = Path(root).expanduser()
    downloads = root / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    for archive in archives:
        marker = downloads / f"{archive.filename}.extracted"
        if marker.exists():
            continue
        path = download_file(archive.url, downloads / archive.filename, archive.size, archive.md5, progress)
        if path.name.lower().endswith(_ARCHIVE_SUFFIXES):
            safe_extract(path, root)
        marker.touch()  # only now: an interrupted extraction is redone on the next run
    return root
