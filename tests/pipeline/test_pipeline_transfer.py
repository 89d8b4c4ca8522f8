"""pack → push → pull → unpack, every byte verified; corrupted, tampered and unsafe archives refused."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from lam3.errors import UserError
from lam3.pipeline.transfer import PACK_INDEX, pack, pull, push, sidecar_path, unpack


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _lam3(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lam3", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_round_trip_through_a_local_folder_with_the_cli(server_run: Path, tmp_path: Path) -> None:
    remote = tmp_path / "shared" / "incoming"
    pushed = _lam3("push", str(server_run), str(remote))
    assert pushed.returncode == 0, pushed.stderr
    assert (remote / "srv_run.tar.gz").is_file()
    side = (remote / "srv_run.tar.gz.sha256").read_text()
    assert side.split()[0] == hashlib.sha256((remote / "srv_run.tar.gz").read_bytes()).hexdigest()
    assert not list(remote.glob("*.partial"))
    local = tmp_path / "laptop" / "runs"
    pulled = _lam3("pull", str(remote / "srv_run.tar.gz"), "--to", str(local))
    assert pulled.returncode == 0, pulled.stderr
    assert _tree(local / "srv_run") == _tree(server_run)
    again = _lam3("pull", str(remote / "srv_run.tar.gz"), "--to", str(local))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_round_trip_in_memory_fsspec(server_run: Path, tmp_path: Path) -> None:
    result = push(server_run, "memory://lam3-test/runs")
    assert result.remote == "memory://lam3-test/runs/srv_run.tar.gz"
    fs = fsspec.filesystem("memory")
    assert fs.cat_file("/lam3-test/runs/srv_run.tar.gz.sha256").decode().startswith(result.sha256)
    back = pull(result.remote, tmp_path / "local")
    assert back.sha256 == result.sha256 and back.unpacked is not None
    assert _tree(back.unpacked.run_dir) == _tree(server_run)
    # --force replaces, and the previous folder is kept (hidden), not deleted
    (back.unpacked.run_dir / "local_only.txt").write_text("keep me")
    again = pull(result.remote, tmp_path / "local", replace=True)
    assert again.unpacked.replaced is not None and (again.unpacked.replaced / "local_only.txt").is_file()


def test_pack_is_deterministic_and_lists_every_file(server_run: Path, tmp_path: Path) -> None:
    a = pack(server_run, tmp_path / "a.tar.gz")
    b = pack(server_run, tmp_path / "b.tar.gz")
    assert a.sha256 == b.sha256 and a.files == 3
    with tarfile.open(a.archive) as tar:
        names = tar.getnames()
        index = json.loads(tar.extractfile(PACK_INDEX).read())
    assert names[0] == PACK_INDEX
    assert set(index["files"]) == {"manifest.json", "response.jsonl", "sub/notes.txt"}
    assert index["files"]["response.jsonl"]["sha256"] == hashlib.sha256(
        (server_run / "response.jsonl").read_bytes()).hexdigest()


@pytest.mark.parametrize("keep_sidecar", [True, False])
def test_a_corrupted_byte_is_detected(server_run: Path, tmp_path: Path, keep_sidecar: bool) -> None:
    packed = pack(server_run, tmp_path / "srv_run.tar.gz")
    data = bytearray(packed.archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    packed.archive.write_bytes(bytes(data))
    if not keep_sidecar:
        sidecar_path(packed.archive).unlink()
    with pytest.raises(UserError, match="checksum mismatch|corrupted"):
        unpack(packed.archive, tmp_path / "out")
    out = tmp_path / "out"
    assert not out.exists() or not list(out.iterdir())  # nothing extracted, no temp folder left


def _rewrite(archive: Path, out: Path, edit) -> Path:
    """Copy an archive member by member, letting ``edit(info, data)`` change or add members."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for info in src.getmembers():
            data = src.extractfile(info).read() if info.isreg() else b""
            for new_info, new_data in edit(info, data):
                dst.addfile(new_info, io.BytesIO(new_data) if new_info.isreg() else None)
    return out


def test_tampered_content_with_the_old_index_is_refused(server_run: Path, tmp_path: Path) -> None:
    packed = pack(server_run, tmp_path / "srv_run.tar.gz")

    def swap(info: tarfile.TarInfo, data: bytes):
        if info.name == "srv_run/response.jsonl":
            data = data.replace(b"Paris", b"Rome!")  # same size, different bytes
        yield info, data

    (tmp_path / "t").mkdir()
    bad = _rewrite(packed.archive, tmp_path / "t" / "srv_run.tar.gz", swap)
    with pytest.raises(UserError, match="checksum mismatch for srv_run/response.jsonl"):
        unpack(bad, tmp_path / "out")
    assert not (tmp_path / "out" / "srv_run").exists()


def _extra(info: tarfile.TarInfo, data: bytes, member: tarfile.TarInfo, payload: bytes = b""):
    yield info, data
    if info.name == PACK_INDEX:
        yield member, payload


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink", "hardlink", "device", "unlisted"])
def test_unsafe_members_are_refused(server_run: Path, tmp_path: Path, kind: str) -> None:
    packed = pack(server_run, tmp_path / "srv_run.tar.gz")
    member = tarfile.TarInfo({"traversal": "srv_run/../../escaped.txt", "absolute": "/tmp/lam3-escaped.txt",
                              "unlisted": "srv_run/extra.txt"}.get(kind, "srv_run/link"))
    payload = b"pwned\n"
    member.size = len(payload)
    if kind == "symlink":
        member.type, member.linkname, member.size = tarfile.SYMTYPE, "/etc/passwd", 0
    elif kind == "hardlink":
        member.type, member.linkname, member.size = tarfile.LNKTYPE, "srv_run/response.jsonl", 0
    elif kind == "device":
        member.type, member.devmajor, member.devminor, member.size = tarfile.CHRTYPE, 1, 3, 0
    (tmp_path / kind).mkdir()
    bad = _rewrite(packed.archive, tmp_path / kind / "srv_run.tar.gz",
                   lambda i, d: _extra(i, d, member, payload if member.isreg() else b""))
    dest = tmp_path / "dest" / "runs"
    with pytest.raises(UserError, match="refusing member|not listed"):
        unpack(bad, dest)
    assert not (tmp_path / "dest" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not (dest / "srv_run").exists()


class _CorruptingFS(MemoryFileSystem):
    """A remote that flips a byte of every upload: push must notice and keep nothing."""

    protocol = "corruptmem"

    def put_file(self, lpath, rpath, callback=None, **kwargs):  # noqa: ANN001 - fsspec signature
        data = bytearray(Path(lpath).read_bytes())
        data[len(data) // 3] ^= 0xFF
        self.pipe_file(rpath, bytes(data))


def test_upload_is_verified_after_writing(server_run: Path) -> None:
    fsspec.register_implementation("corruptmem", _CorruptingFS, clobber=True)
    with pytest.raises(UserError, match="upload verification failed"):
        push(server_run, "corruptmem://bad/runs")
    fs = _CorruptingFS()
    assert not fs.exists("/bad/runs/srv_run.tar.gz") and not fs.exists("/bad/runs/srv_run.tar.gz.partial")
    assert not fs.exists("/bad/runs/srv_run.tar.gz.sha256")


def test_download_is_verified_against_the_sidecar(server_run: Path, tmp_path: Path) -> None:
    result = push(server_run, "memory://lam3-verify/runs")
    fs = fsspec.filesystem("memory")
    data = bytearray(fs.cat_file("/lam3-verify/runs/srv_run.tar.gz"))
    data[100] ^= 0x10
    fs.pipe_file("/lam3-verify/runs/srv_run.tar.gz", bytes(data))
    with pytest.raises(UserError, match="download verification failed"):
        pull(result.remote, tmp_path / "local")
    assert not list((tmp_path / "local").iterdir())
    fs.rm("/lam3-verify/runs/srv_run.tar.gz.sha256")
    with pytest.raises(UserError, match="refusing a download that cannot be verified"):
        pull(result.remote, tmp_path / "local")


def test_missing_protocol_backend_says_how_to_fix(tmp_path: Path) -> None:
    from lam3.errors import DependencyError

    with pytest.raises(DependencyError, match="s3:// needs `pip install s3fs`"):
        pull("nosuchproto://host/runs/x.tar.gz", tmp_path)
