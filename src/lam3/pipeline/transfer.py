"""Moving a run between machines: pack / unpack / push / pull, every byte checksummed.

The two-stage flow is "the GPU server generates, the laptop scores, the results go
back". A run directory travels as one ``NAME.tar.gz`` holding ``NAME/…`` (every
file of the run, manifest included) plus ``lam3-pack.json``, an index with the
sha256 and size of every file. Next to the archive sits ``NAME.tar.gz.sha256``
(``sha256sum`` format) so the archive as a whole is verified after each upload and
download, before anything is unpacked.

``unpack`` trusts nothing in the archive: every member must be a regular file
under ``NAME/`` (no absolute paths, no ``..``, no links or devices, no duplicate
names), the members must be exactly the files the index lists, extraction goes
through tarfile's ``data`` filter into a temporary folder, and every extracted
file's sha256 must match before the run appears under its real name.

Remote locations are fsspec URLs (a local path, ``memory://``, ``sftp://``,
``s3://`` …). Credentials never pass through LAM3: fsspec takes them from the
usual places (ssh agent/keys, AWS env vars, ``FSSPEC_<PROTOCOL>_<OPTION>`` env vars).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import re
import shutil
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lam3.errors import DependencyError, UserError
from lam3.manifest import MANIFEST, sha256_file
from lam3.pipeline.rundir import RunDir, check_run_name
from lam3.store import atomic_file, atomic_write

PACK_INDEX = "lam3-pack.json"
PACK_VERSION = 1
SIDECAR_SUFFIX = ".sha256"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20

Progress = Callable[[int, int], None]


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class PackIndex(BaseModel):
    """``lam3-pack.json``: what the archive must contain, byte for byte."""

    model_config = ConfigDict(extra="forbid")
    lam3_pack_version: int
    run: str
    files: dict[str, FileEntry]


@dataclass
class PackResult:
    archive: Path
    sha256: str
    files: int
    bytes: int


@dataclass
class UnpackResult:
    run_dir: Path
    files: int
    sidecar_verified: bool
    replaced: Path | None = None
    """Where the directory that was replaced went (nothing is deleted)."""


@dataclass
class TransferResult:
    local: Path
    remote: str
    sha256: str
    bytes: int
    unpacked: UnpackResult | None = None


# --- checksums --------------------------------------------------------------------------------
def sidecar_path(archive: str | Path) -> Path:
    archive = Path(archive)
    return archive.with_name(archive.name + SIDECAR_SUFFIX)


def sidecar_text(sha: str, name: str) -> str:
    """``sha256sum`` format, so ``sha256sum -c NAME.tar.gz.sha256`` works too."""
    return f"{sha}  {name}\n"


def parse_sidecar(text: str, where: str) -> str:
    token = text.strip().split()[0].lower() if text.strip() else ""
    if not _HEX64.match(token):
        raise UserError("checksum file does not start with a sha256 hex digest", path=where)
    return token


class _HashingReader(io.RawIOBase):
    """Wraps a file so that what tarfile reads is hashed on the way (one read per file)."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.hash, self.n = fh, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.hash.update(data)
        self.n += len(data)
        return data


# --- pack -------------------------------------------------------------------------------------
def default_archive(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir).resolve()
    return run_dir.parent / f"{run_dir.name}.tar.gz"


def pack(run_dir: str | Path, out: str | Path | None = None, *, progress: Progress | None = None) -> PackResult:
    """Pack ``run_dir`` into ``out`` (default ``<parent>/<NAME>.tar.gz``) plus its ``.sha256`` sidecar.

    The archive is deterministic for identical files (fixed owner, gzip time 0, sorted
    names), so packing an unchanged run twice gives the same checksum.
    """
    run = RunDir.open(run_dir)
    if not run.manifest_path.is_file():
        raise UserError(f"not a run directory: no {MANIFEST} (every stage writes one)", path=run.path)
    out = Path(out) if out is not None else default_archive(run.path)
    if not out.name.endswith(".tar.gz"):
        raise UserError("archive name must end in .tar.gz", path=out)
    if out.resolve().is_relative_to(run.path.resolve()):
        raise UserError("the archive cannot be written inside the run it packs", path=out)
    files = list(run.files())
    total = sum(p.stat().st_size for p in files)
    index = {p.relative_to(run.path).as_posix(): FileEntry(sha256=sha256_file(p), bytes=p.stat().st_size)
             for p in files}
    blob = PackIndex(lam3_pack_version=PACK_VERSION, run=run.name, files=index).model_dump_json(indent=1).encode()
    done = 0
    try:
        with atomic_file(out, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_tarinfo(PACK_INDEX, len(blob), 0), io.BytesIO(blob))  # first: unpack checks it early
            for path in files:
                rel = path.relative_to(run.path).as_posix()
                entry = index[rel]
                info = _tarinfo(f"{run.name}/{rel}", entry.bytes, int(path.stat().st_mtime))
                with open(path, "rb") as fh:
                    reader = _HashingReader(fh)
                    tar.addfile(info, reader)
                if reader.hash.hexdigest() != entry.sha256:
                    raise UserError("file changed while it was being packed; pack again when the run is idle",
                                    path=path)
                done += reader.n
                if progress:
                    progress(done, total)
        sha = sha256_file(out)
    except OSError as exc:
        raise UserError(f"packing failed: {exc}", path=out) from None
    atomic_write(sidecar_path(out), sidecar_text(sha, out.name))
    return PackResult(out, sha, len(index), total)


def peek_run_name(archive: str | Path) -> str:
    """The run name from the archive's index (its first member), without reading the rest."""
    archive = Path(archive)
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            first = tar.next()
            if first is None or first.name != PACK_INDEX or not first.isreg():
                raise UserError(f"not a LAM3 run archive: {PACK_INDEX} is not its first member", path=archive)
            fh = tar.extractfile(first)
            return check_run_name(PackIndex.model_validate_json(fh.read() if fh else b"").run)
    except ValidationError as exc:
        raise UserError(f"{PACK_INDEX} is invalid: {exc.errors()[0]['msg']}", path=archive) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise UserError(f"corrupted archive ({type(exc).__name__}: {exc})", path=archive) from None


def read_index(archive: str | Path) -> PackIndex:
    """The archive's index (first member) — what ``unpack`` would produce, file by file."""
    archive = Path(archive)
    peek_run_name(archive)
    with tarfile.open(archive, mode="r:gz") as tar:
        fh = tar.extractfile(tar.next())
        return PackIndex.model_validate_json(fh.read() if fh else b"")


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# --- unpack -----------------------------------------------------------------------------------
def _safe_member_name(name: str, archive: Path) -> PurePosixPath:
    """The member's path if it is a plain relative path; UserError otherwise."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise UserError(f"refusing member {name!r}: absolute or non-portable path", path=archive)
    parts = PurePosixPath(name).parts
    if any(p in {"..", "."} for p in parts) or posixpath.normpath(name) != name.rstrip("/"):
        raise UserError(f"refusing member {name!r}: path escapes or is not normalised", path=archive)
    return PurePosixPath(name)


def verify_archive_sidecar(archive: Path) -> bool:
    """Check ``archive`` against its sidecar if there is one; return whether one was checked."""
    side = sidecar_path(archive)
    if not side.is_file():
        return False
    expected = parse_sidecar(side.read_text(encoding="utf-8"), str(side))
    actual = sha256_file(archive)
    if actual != expected:
        raise UserError(f"archive checksum mismatch: {actual} != {expected} in {side.name} "
                        "(corrupted or tampered; fetch it again)", path=archive)
    return True


def _read_members(archive: Path) -> tuple[tarfile.TarFile, list[tarfile.TarInfo]]:
    try:
        tar = tarfile.open(archive, mode="r:gz")
        return tar, tar.getmembers()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise UserError(f"corrupted archive ({type(exc).__name__}: {exc})", path=archive) from None


def _check_members(archive: Path, tar: tarfile.TarFile, members: list[tarfile.TarInfo]
                   ) -> tuple[PackIndex, list[tarfile.TarInfo]]:
    """Every structural check before a single byte is written."""
    seen: set[str] = set()
    index_member = None
    files: list[tarfile.TarInfo] = []
    for m in members:
        name = str(_safe_member_name(m.name, archive))
        if name in seen:
            raise UserError(f"refusing member {m.name!r}: appears twice", path=archive)
        seen.add(name)
        if not (m.isreg() or m.isdir()):
            kind = "link" if (m.issym() or m.islnk()) else "device or special file"
            raise UserError(f"refusing member {m.name!r}: a {kind}; archives may hold regular files only",
                            path=archive)
        if name == PACK_INDEX:
            index_member = m
        elif m.isreg():
            files.append(m)
    if index_member is None or not index_member.isreg():
        raise UserError(f"not a LAM3 run archive: no {PACK_INDEX} (make archives with `lam3 pack`)", path=archive)
    try:
        fh = tar.extractfile(index_member)
        index = PackIndex.model_validate_json(fh.read() if fh else b"")
    except ValidationError as exc:
        raise UserError(f"{PACK_INDEX} is invalid: {exc.errors()[0]['msg']}", path=archive) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise UserError(f"corrupted archive ({type(exc).__name__}: {exc})", path=archive) from None
    if index.lam3_pack_version != PACK_VERSION:
        raise UserError(f"archive format {index.lam3_pack_version} is not supported (expected {PACK_VERSION})",
                        path=archive)
    check_run_name(index.run)
    prefix = index.run + "/"
    for m in members:
        if m is not index_member and not m.name.startswith(prefix) and m.name.rstrip("/") != index.run:
            raise UserError(f"refusing member {m.name!r}: outside the run folder {index.run}/", path=archive)
    listed = {prefix + rel for rel in index.files}
    present = {m.name for m in files}
    if listed - present:
        raise UserError(f"archive is missing {sorted(listed - present)[0]!r} listed in {PACK_INDEX}", path=archive)
    if present - listed:
        raise UserError(f"archive has {sorted(present - listed)[0]!r}, not listed in {PACK_INDEX} (tampered?)",
                        path=archive)
    for m in files:
        entry = index.files[m.name[len(prefix):]]
        if m.size != entry.bytes:
            raise UserError(f"{m.name}: size {m.size} != {entry.bytes} in {PACK_INDEX} (tampered?)", path=archive)
    if members[0] is not index_member:
        raise UserError(f"not a LAM3 run archive: {PACK_INDEX} is not its first member", path=archive)
    if MANIFEST not in index.files:
        raise UserError(f"archive has no {index.run}/{MANIFEST}", path=archive)
    return index, [m for m in members if m is not index_member]


def unpack(archive: str | Path, dest_root: str | Path, *, replace: bool = False,
           require_sidecar: bool = False) -> UnpackResult:
    """Verify and extract ``archive`` into ``dest_root/NAME``.

    Refuses (UserError, nothing written under ``NAME``) a corrupted or tampered archive, a
    member path that escapes, links/devices, and an existing ``NAME`` unless ``replace``
    (the old folder is then kept as ``.NAME.prev-<time>``).
    """
    archive, dest_root = Path(archive), Path(dest_root)
    if not archive.is_file():
        raise UserError("archive not found", path=archive)
    checked = verify_archive_sidecar(archive)
    if require_sidecar and not checked:
        raise UserError(f"no checksum file {sidecar_path(archive).name} next to the archive", path=archive)
    tar, members = _read_members(archive)
    with tar:
        index, extract = _check_members(archive, tar, members)
        target = dest_root / index.run
        if target.exists() and not replace:
            raise UserError(f"{target} already exists; pass --force to replace it (the old one is kept "
                            f"as .{index.run}.prev-<time>) or --to another folder", path=archive)
        dest_root.mkdir(parents=True, exist_ok=True)
        tmp = dest_root / f".{index.run}.unpack-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            try:
                tar.extractall(tmp, members=extract, filter="data")
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise UserError(f"corrupted archive ({type(exc).__name__}: {exc})", path=archive) from None
            for rel, entry in index.files.items():
                got = tmp / index.run / rel
                if not got.is_file() or got.is_symlink():
                    raise UserError(f"{index.run}/{rel} was not extracted as a regular file", path=archive)
                actual = sha256_file(got)
                if actual != entry.sha256:
                    raise UserError(f"checksum mismatch for {index.run}/{rel}: {actual[:12]}… != "
                                    f"{entry.sha256[:12]}… (corrupted or tampered archive)", path=archive)
            moved = None
            if target.exists():
                moved = dest_root / f".{index.run}.prev-{datetime.now().strftime('%Y%m%dT%H%M%S%f')}"
                os.replace(target, moved)
            os.replace(tmp / index.run, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return UnpackResult(target, len(index.files), checked, moved)


# --- push / pull ------------------------------------------------------------------------------
def display_url(url: str) -> str:
    """The URL without a password (``sftp://user:pw@host`` → ``sftp://user:***@host``)."""
    return re.sub(r"^([a-zA-Z][\w+.-]*://[^/:@]*):[^/@]*@", r"\1:***@", url)


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise DependencyError("push/pull need fsspec: pip install 'lam3[transfer]'") from None
    try:
        return url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise DependencyError(
            f"{display_url(url)}: {exc}. Remote protocols need their fsspec backend: sftp:// needs "
            "`pip install paramiko` (or sshfs), s3:// needs `pip install s3fs`, gs:// needs gcsfs.") from None


def _join(url: str, name: str) -> str:
    return url.rstrip("/") + "/" + name


def _remote_sha256(fs: Any, path: str) -> str:
    h = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _callback(progress: Progress | None) -> Any:
    from fsspec.callbacks import Callback, NoOpCallback

    if progress is None:
        return NoOpCallback()

    class _Bar(Callback):
        def call(self, *args: Any, **kwargs: Any) -> None:
            progress(self.value, self.size or 0)

    return _Bar()


def push(source: str | Path, url: str, *, progress: Progress | None = None) -> TransferResult:
    """Upload a run (packed first if ``source`` is a directory) to the folder ``url``, verified.

    The archive goes up as ``NAME.tar.gz.partial``, is read back and hashed, renamed, and
    only then is ``NAME.tar.gz.sha256`` written: a reader that sees the sidecar sees a
    complete, verified archive.
    """
    source = Path(source)
    if source.is_dir():
        archive = pack(source).archive
    elif source.is_file():
        archive = source
    else:
        raise UserError("nothing to push: not a run directory or archive", path=source)
    sha = sha256_file(archive)
    side = sidecar_path(archive)
    if side.is_file() and parse_sidecar(side.read_text(encoding="utf-8"), str(side)) != sha:
        raise UserError(f"local archive does not match {side.name}: corrupted before upload; pack again",
                        path=archive)
    fs, root = _filesystem(url)
    remote = _join(root, archive.name)
    partial = remote + ".partial"
    try:
        fs.makedirs(root, exist_ok=True)
    except (FileExistsError, NotImplementedError):
        pass
    fs.put_file(str(archive), partial, callback=_callback(progress))
    remote_sha = _remote_sha256(fs, partial)
    if remote_sha != sha:
        fs.rm(partial)
        raise UserError(f"upload verification failed for {display_url(_join(url, archive.name))}: "
                        f"remote sha256 {remote_sha[:12]}… != local {sha[:12]}…; nothing kept remotely")
    if fs.exists(remote):
        fs.rm(remote)
    fs.mv(partial, remote)
    fs.pipe_file(remote + SIDECAR_SUFFIX, sidecar_text(sha, archive.name).encode())
    if parse_sidecar(fs.cat_file(remote + SIDECAR_SUFFIX).decode(), remote + SIDECAR_SUFFIX) != sha:
        raise UserError(f"checksum file did not arrive intact at {display_url(_join(url, archive.name))}.sha256")
    return TransferResult(archive, _join(url, archive.name), sha, archive.stat().st_size)


def pull(url: str, dest_root: str | Path, *, unpack_run: bool = True, replace: bool = False,
         progress: Progress | None = None) -> TransferResult:
    """Download the archive at ``url`` into ``dest_root``, verify it against ``url.sha256``, unpack it."""
    dest_root = Path(dest_root)
    fs, path = _filesystem(url)
    name = posixpath.basename(path.rstrip("/"))
    if not name.endswith(".tar.gz"):
        raise UserError(f"{display_url(url)}: pull takes the URL of a .tar.gz made by `lam3 pack`/`lam3 push`")
    if not fs.exists(path):
        raise UserError(f"{display_url(url)}: not found")
    if not fs.exists(path + SIDECAR_SUFFIX):
        raise UserError(f"{display_url(url)}{SIDECAR_SUFFIX}: missing; refusing a download that cannot be "
                        "verified (upload with `lam3 push`)")
    expected = parse_sidecar(fs.cat_file(path + SIDECAR_SUFFIX).decode("utf-8", "replace"),
                             display_url(url) + SIDECAR_SUFFIX)
    local = dest_root / name
    with atomic_file(local, "wb") as fh:  # fsspec writes the temp file by name; atomic_file renames it once verified
        fs.get_file(path, fh.name, callback=_callback(progress))
        actual = sha256_file(fh.name)
        if actual != expected:
            raise UserError(f"download verification failed: sha256 {actual[:12]}… != {expected[:12]}… "
                            f"in {name}{SIDECAR_SUFFIX}; nothing kept", path=display_url(url))
    atomic_write(sidecar_path(local), sidecar_text(expected, name))
    unpacked = unpack(local, dest_root, replace=replace, require_sidecar=True) if unpack_run else None
    return TransferResult(local, url, expected, local.stat().st_size, unpacked)


def remote_has(url: str, name: str, sha: str) -> bool:
    """True when the folder ``url`` holds ``name`` with a sidecar naming ``sha`` (a finished push)."""
    fs, root = _filesystem(url)
    remote = _join(root, name)
    try:
        if not fs.exists(remote):
            return False
        return parse_sidecar(fs.cat_file(remote + SIDECAR_SUFFIX).decode("utf-8", "replace"), name) == sha
    except (FileNotFoundError, UserError):
        return False
