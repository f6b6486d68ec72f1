"""pointnet-download against a zip served from 127.0.0.1: fetch, verify, unpack atomically."""
import functools
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from pointnet.apps.download import main
from pointnet.data.datasets.download import DownloadError, download

BOX = "OFF\n4 2 0\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n3 0 1 2\n3 1 3 2\n"


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields ``(folder, base_url)``."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def make_zip(path: Path, top: str = "ModelNet10") -> Path:
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr(f"{top}/README.txt", "ModelNet10 (tiny test copy)\n")
        for name in ("chair", "bed"):
            for split in ("train", "test"):
                zipped.writestr(f"{top}/{name}/{split}/{name}_0001.off", BOX)
        zipped.writestr("__MACOSX/._junk", "mac metadata")
    return path


def test_download_verify_unpack(served, tmp_path):
    folder, url = served
    archive = make_zip(folder / "ModelNet10.zip")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = tmp_path / "data"
    main(["modelnet10", "--url", f"{url}/ModelNet10.zip", "--dest", str(dest), "--sha256", digest, "--quiet"])
    assert (dest / "ModelNet10" / "chair" / "train" / "chair_0001.off").read_text() == BOX
    assert sorted(p.name for p in dest.iterdir()) == ["ModelNet10"]  # no archive, temp or staging left


def test_unknown_name_is_refused():
    with pytest.raises(SystemExit):
        main(["ModelNet99"])


def test_existing_data_set_is_kept_unless_forced(served, tmp_path):
    folder, url = served
    make_zip(folder / "ModelNet10.zip")
    dest = tmp_path / "data"
    (dest / "ModelNet10").mkdir(parents=True)
    assert download("ModelNet10", dest, url=f"{url}/ModelNet10.zip", progress=False) == dest / "ModelNet10"
    assert not (dest / "ModelNet10" / "chair").exists()
    download("ModelNet10", dest, url=f"{url}/ModelNet10.zip", progress=False, force=True)
    assert (dest / "ModelNet10" / "bed" / "test" / "bed_0001.off").is_file()


def test_checksum_mismatch_leaves_nothing(served, tmp_path):
    folder, url = served
    make_zip(folder / "ModelNet10.zip")
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="SHA-256"):
        download("ModelNet10", dest, url=f"{url}/ModelNet10.zip", sha256="0" * 64, progress=False)
    assert list(dest.iterdir()) == []


def test_corrupt_archive_and_missing_url(served, tmp_path, capsys):
    folder, url = served
    data = bytearray(make_zip(folder / "ModelNet10.zip").read_bytes())
    data[60:70] = b"X" * 10  # inside the first member's bytes: CRC mismatch
    (folder / "broken.zip").write_bytes(bytes(data))
    (folder / "notzip.zip").write_text("<html>moved</html>")
    dest = tmp_path / "data"
    for name in ("broken.zip", "notzip.zip"):
        with pytest.raises(DownloadError, match="corrupt|not a valid zip|Bad"):
            download("ModelNet10", dest, url=f"{url}/{name}", progress=False)
    with pytest.raises(SystemExit) as exited:
        main(["ModelNet10", "--url", f"{url}/absent.zip", "--dest", str(dest), "--quiet"])
    assert exited.value.code == 1 and "404" in capsys.readouterr().err
    assert list(dest.iterdir()) == []


def test_archive_with_other_top_folder_and_unsafe_members(served, tmp_path):
    folder, url = served
    make_zip(folder / "renamed.zip", top="modelnet10_v2")
    assert (download("ModelNet10", tmp_path / "d1", url=f"{url}/renamed.zip", progress=False)
            / "chair" / "test" / "chair_0001.off").is_file()
    with zipfile.ZipFile(folder / "evil.zip", "w") as zipped:
        zipped.writestr("../escape.txt", "nope")
    with pytest.raises(DownloadError, match="outside"):
        download("ModelNet10", tmp_path / "d2", url=f"{url}/evil.zip", progress=False)
    assert not (tmp_path / "escape.txt").exists()
