"""What every benchmark importer shares: reading the downloaded files, checking ids and image
paths, and the reviewed category table.

An importer turns a public benchmark, from files the user downloaded, into :class:`Draft`\\ s:
one :class:`lam3.records.Sample` each (or the reason its row is unusable), plus the images it
needs. The import stage (:mod:`lam3.bench.importers.stage`) writes them. Why this split: the
format modules only know their column layouts; checking, streaming, resuming and provenance
happen once, here and in the stage.

- CSV files are streamed row by row with the csv module (quoted multi-line fields are common),
  decoded strictly as UTF-8 (a BOM is allowed); columns are matched by name, case-insensitively,
  never by position (peers and their copies reorder and re-case them).
- An image path is relative to the dataset root; one that is absolute, leaves the root with
  ``..`` or resolves through a symbolic link to a file outside it is an error of that sample.
- Every source category is mapped onto S1–S11 (or ``benign``) by one YAML table per benchmark
  (``taxonomy/<benchmark>.yaml``); a category with no S1–S11 counterpart maps to ``other``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib.resources import as_file, files
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, ClassVar

from pydantic import Field, field_validator

from lam3.config import StrictModel, load_config
from lam3.errors import UserError
from lam3.paths import ImagePathError, ImageRoots
from lam3.records import Sample
from lam3.taxonomy import BENIGN, POLICY_CATEGORIES

NO_COUNTERPART = "other"
"""The category of a sample whose source category has no S1–S11 counterpart (e.g. misinformation)."""

_CSV_FIELD_LIMIT = 1 << 24  # JailBreakV jailbreak texts and HarmBench contexts exceed csv's 128 KiB default


class RowError(Exception):
    """One source row (or entry) that cannot become a sample; it is quarantined, the import goes on."""

    def __init__(self, field: str | None, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}" if field else reason)


# --- images -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CopyImage:
    """An image file of the dataset, to be placed at ``DIR/<dest>``."""

    source: Path
    dest: str


@dataclass(frozen=True)
class RenderImage:
    """A FigStep-style typographic image of ``text`` (lam3.bench.typographic), to be written to ``DIR/<dest>``."""

    text: str
    dest: str


ImageJob = CopyImage | RenderImage


@dataclass
class Draft:
    """One row of the source as an importer read it: a sample with its image jobs, or the row's error."""

    file: Path
    line: int
    sample: Sample | None = None
    images: list[ImageJob] = field(default_factory=list)
    error: RowError | None = None


IMAGES_DIR = "images"
"""Images are placed under ``DIR/images/``; sample image paths are relative to ``DIR``."""


class ImageRoot:
    """The folder the dataset's image paths are relative to, and the checks that keep them inside it.

    The check is :mod:`lam3.paths`' (the one every stage uses); absolute paths are refused outright,
    since the image is placed at ``images/<its path>``. Results are cached per path (JailBreakV's
    28,000 rows share a few thousand images), so a row costs a dictionary look-up rather than a
    ``realpath``.
    """

    def __init__(self, root: Path, option: str = "--images") -> None:
        if not root.is_dir():
            raise UserError(f"image folder not found (pass {option} DIR, the folder the image paths are "
                            "relative to)", path=root)
        self.root = root
        self._roots = ImageRoots.at(root, name="dataset root", hint=None)
        self._cached = lru_cache(maxsize=1 << 16)(self._locate)

    def locate(self, rel: str, field: str, *, alternatives: Sequence[str] = ()) -> CopyImage:
        """The image at ``rel`` (or the first of ``alternatives`` that exists), placed under ``images/``."""
        return self._cached(rel, field, tuple(alternatives))

    def _locate(self, rel: str, field: str, alternatives: tuple[str, ...]) -> CopyImage:
        tried = []
        for name in (rel, *alternatives):
            lexical = self._relative(name, field)
            try:
                return CopyImage(self._roots.resolve(lexical), f"{IMAGES_DIR}/{lexical}")
            except ImagePathError as exc:
                if not exc.missing:
                    raise RowError(field, str(exc)) from None
            tried.append(str(self.root / lexical))
        raise RowError(field, f"image not found: {', '.join(tried)}")

    def _relative(self, rel: str, field: str) -> str:
        if not rel or not rel.strip():
            raise RowError(field, "empty image path")
        if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).drive or PureWindowsPath(rel).root:
            raise RowError(field, f"absolute image path {rel!r}: image paths must be relative to the dataset "
                                  f"root {self.root}")
        return os.path.normpath(rel).replace(os.sep, "/")


# --- the category table -------------------------------------------------------------------------------
class CategoryEntry(StrictModel):
    category: str = Field(description="S1–S11, 'benign' or 'other' (no S1–S11 counterpart)")
    exact: bool = Field(True, description="false: the nearest S1–S11 category, not an equivalent one")
    note: str = ""

    @field_validator("category")
    @classmethod
    def _known(cls, value: str) -> str:
        allowed = (*POLICY_CATEGORIES, BENIGN, NO_COUNTERPART)
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value


class CategoryTableFile(StrictModel):
    """``taxonomy/<benchmark>.yaml``: the reviewed map from a benchmark's own categories onto S1–S11."""

    benchmark: str
    column: str = Field(description="the source column (or key) holding the category")
    source: str = Field(description="where the category values were read (repository @ commit)")
    reviewed: str = Field(description="who reviewed the mapping, when, against which taxonomy")
    categories: dict[str, CategoryEntry] = Field(min_length=1)


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


class CategoryTable:
    """Maps a source category onto S1–S11 / benign / other through the benchmark's shipped YAML table."""

    def __init__(self, name: str) -> None:
        resource = files("lam3.bench.importers") / "taxonomy" / f"{name}.yaml"
        with as_file(resource) as path:
            if not path.is_file():
                raise UserError(f"no category table for benchmark {name!r}", path=path)
            self.path = Path(path)
            self.file = load_config(path, CategoryTableFile)
            self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self._folded = {_fold(k): v for k, v in self.file.categories.items()}

    def lookup(self, value: str, field: str) -> CategoryEntry:
        entry = self.file.categories.get(value) or self._folded.get(_fold(value))
        if entry is None:
            known = ", ".join(repr(k) for k in self.file.categories)
            raise RowError(field, f"category {value!r} is not in the mapping table {self.path.name} "
                                  f"(known: {known}); add it there")
        return entry


# --- reading the downloaded files -----------------------------------------------------------------------
@dataclass(frozen=True)
class Columns:
    """The columns an importer reads: required ones must be in the header, optional ones may be."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    """header cell (folded) → column name, e.g. ``"" → "Index"`` (early JBB files had an unnamed index)."""


@dataclass
class Row:
    """One CSV row: values by column name, the line it starts on, or why it is unusable."""

    file: Path
    line: int
    values: dict[str, str]
    error: RowError | None = None

    def get(self, column: str) -> str:
        return self.values.get(column) or ""

    def need(self, column: str) -> str:
        value = self.get(column).strip()
        if not value:
            raise RowError(column, "empty")
        return value


def _header_map(header: list[str], columns: Columns, path: Path, line: int = 1) -> dict[str, int]:
    wanted = {c.casefold(): c for c in (*columns.required, *columns.optional)}
    aliases = {k.casefold(): v for k, v in columns.aliases.items()}
    found: dict[str, int] = {}
    for i, cell in enumerate(header):
        key = cell.strip().casefold()
        name = wanted.get(key) or aliases.get(key)
        if name is None:
            continue
        if name in found:
            raise UserError(f"column {name!r} appears twice in the header", path=path, line=line, field=name)
        found[name] = i
    for name in columns.required:
        if name not in found:
            raise UserError(f"missing column {name!r} (the header has: {', '.join(repr(h) for h in header)})",
                            path=path, line=line, field=name)
    return found


def _check_bom_free_start(raw: bytes, path: Path) -> None:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UserError("UTF-16 text: save the file as UTF-8", path=path, line=1)


def read_csv(path: Path, columns: Columns, *, encoding: str | None = None, comments: bool = False,
             hint: str = "save the file as UTF-8") -> Iterator[Row]:
    """Stream the rows of ``path`` as :class:`Row`\\ s (values by column name); ``line`` is where a row starts.

    The header must name every required column (one-line error naming file, line and column
    otherwise). A row with more cells than the header, or too few to hold a required column,
    is yielded with its ``error`` set, so the stage can quarantine it. ``encoding`` (default
    strict UTF-8, BOM allowed) names another codec the user knows the file is in; ``comments``
    skips the ``#`` lines before the header (PyRIT's metadata line; :func:`leading_comments`
    reads them); ``hint`` ends the message of a file that does not decode.
    """
    if not path.is_file():
        raise UserError("file not found", path=path)
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    codec = _codec(encoding)
    raw = open(path, "rb")
    try:
        _check_bom_free_start(raw.read(4), path)
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=codec, errors="strict", newline="")
        skipped = len(leading_comments(path, encoding)) if comments else 0
        for _ in range(skipped):
            text.readline()
        reader = csv.reader(text)
        try:
            header = next(reader, None)
            if header is None:
                raise UserError("empty file: expected a CSV header", path=path, line=skipped + 1)
            index = _header_map(header, columns, path, line=skipped + 1)
            width = len(header)
            while True:
                start = skipped + reader.line_num + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                if len(cells) > width:
                    yield Row(path, start, {}, RowError(
                        f"column {width + 1}", f"row has {len(cells)} cells, the header {width}"))
                    continue
                values = {name: cells[i] for name, i in index.items() if i < len(cells)}
                short = next((n for n in columns.required if n not in values), None)
                if short is not None:
                    yield Row(path, start, {}, RowError(
                        short, f"missing (row has {len(cells)} cells, the header {width})"))
                    continue
                yield Row(path, start, values)
        except UnicodeDecodeError as exc:  # decoded a block ahead: find the line itself
            raise UserError(f"not {'UTF-8' if encoding is None else codec} text ({exc.reason}); {hint}", path=path,
                            line=_first_bad_line(path, codec)) from None
        except csv.Error as exc:
            raise UserError(f"malformed CSV: {exc}", path=path, line=skipped + reader.line_num) from None
    finally:
        raw.close()


def _codec(encoding: str | None) -> str:
    """The codec to decode with: strict UTF-8 (BOM allowed) unless the user names another one."""
    if encoding is None:
        return "utf-8-sig"
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise UserError(f"unknown text encoding {encoding!r} (e.g. utf-8, mac_roman, cp1252)",
                        field="--encoding") from None


def _first_bad_line(path: Path, codec: str) -> int | None:
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                raw.decode(codec)
            except UnicodeDecodeError:
                return lineno
    return None


def leading_comments(path: Path, encoding: str | None = None) -> list[str]:
    """The ``#`` lines before a CSV header (PyRIT: ``# dataset_version=1.0, harm_definition=…``), without ``#``."""
    found = []
    with open(path, encoding=_codec(encoding), errors="replace", newline="") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            found.append(line[1:].strip())
    return found


def read_header(path: Path, *, encoding: str | None = None, comments: bool = False) -> list[str]:
    """The header cells of a CSV file (to tell a format's variants apart before reading it).

    ``comments``: the header is the first line after the leading ``#`` lines (see :func:`read_csv`).
    """
    if not path.is_file():
        raise UserError("file not found", path=path)
    skipped = len(leading_comments(path, encoding)) if comments else 0
    with open(path, encoding=_codec(encoding), errors="replace", newline="") as fh:
        for _ in range(skipped):
            fh.readline()
        return [cell.strip() for cell in next(csv.reader(fh), [])]


def has_column(header: list[str], name: str) -> bool:
    return name.casefold() in (h.casefold() for h in header)


def read_json(path: Path) -> Any:
    """Parse a (small) JSON document; an error names the file, line and column."""
    if not path.is_file():
        raise UserError("file not found", path=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason})", path=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno,
                        field=f"column {exc.colno}") from None


_TOP_KEY = re.compile(r'^\s{0,8}"((?:[^"\\]|\\.)*)"\s*:\s*[\[{]')


def top_level_key_lines(path: Path) -> dict[str, int]:
    """Line of each ``"key": {`` or ``"key": [`` in an indented JSON object (first occurrence), for errors."""
    lines: dict[str, int] = {}
    with open(path, encoding="utf-8-sig") as fh:
        for lineno, text in enumerate(fh, start=1):
            match = _TOP_KEY.match(text)
            if match:
                lines.setdefault(json.loads(f'"{match.group(1)}"'), lineno)
    return lines


def count_rows(path: Path) -> int:
    """Lines after the header: an upper bound on the rows (quoted fields may span lines), for progress."""
    from lam3.store import count_lines

    return max(0, count_lines(path) - 1)


def parse_bool(value: str, field: str) -> bool:
    """``TRUE``/``True``/``true``/``1``/``yes`` and their negatives (peers spell booleans every way)."""
    folded = value.strip().casefold()
    if folded in ("true", "1", "yes", "t", "y"):
        return True
    if folded in ("false", "0", "no", "f", "n"):
        return False
    raise RowError(field, f"expected a boolean, got {value!r}")


# --- the importer interface ----------------------------------------------------------------------------
class Importer:
    """One public benchmark format. Subclasses declare their name, table and files, and yield drafts."""

    name: ClassVar[str]
    title: ClassVar[str]
    download: ClassVar[str]
    """What to download, from where (shown by ``lam3 bench formats`` and in docs/benchmarks-io.md)."""
    has_images: ClassVar[bool] = False
    columns: ClassVar[Columns | None] = None
    """CSV formats: the columns read (matched by header name)."""

    def __init__(self, source: Path, images: Path | None = None) -> None:
        self.source = source
        if not source.exists():
            raise UserError("benchmark file or folder not found", path=source)
        self.images_option = images

    @cached_property
    def table(self) -> CategoryTable:
        return CategoryTable(self.name)

    @cached_property
    def image_root(self) -> ImageRoot:
        root = self.images_option if self.images_option is not None else self.default_image_root()
        if root is None:
            raise UserError(f"{self.name}: pass --images DIR, the folder its image paths are relative to")
        return ImageRoot(root)

    def default_image_root(self) -> Path | None:
        """Where the images usually are relative to the source file (each format documents its layout)."""
        return None

    def inputs(self) -> list[Path]:
        """The files read (their sha256 goes into the bench manifest)."""
        return [self.source]

    def estimate(self) -> int | None:
        """Roughly how many drafts to expect (for the progress bar)."""
        return sum(count_rows(p) for p in self.inputs() if p.suffix.lower() == ".csv") or None

    def drafts(self) -> Iterator[Draft]:
        """Every row of the source as a draft, in source order (CSV formats: each input file's rows)."""
        for path in self.inputs():
            yield from self.csv_drafts(path, self.columns)

    def sample(self, row: Row, n: int) -> tuple[Sample, list[ImageJob]]:
        """Row ``n`` (0-based) of a CSV file as a sample and its images; raise :class:`RowError` if unusable."""
        raise NotImplementedError

    # -- helpers for subclasses ----------------------------------------------------------------------
    def csv_drafts(self, path: Path, columns: Columns | None, build: Callable[[Row, int], Any] | None = None
                   ) -> Iterator[Draft]:
        """Stream ``path`` through ``build`` (default :meth:`sample`); a :class:`RowError` becomes the draft's error."""
        if columns is None:
            raise NotImplementedError(f"{type(self).__name__} declares no columns")
        build = build or self.sample
        for n, row in enumerate(read_csv(path, columns)):
            if row.error is not None:
                yield Draft(row.file, row.line, error=row.error)
                continue
            try:
                sample, images = build(row, n)
            except RowError as exc:
                yield Draft(row.file, row.line, error=exc)
            else:
                yield Draft(row.file, row.line, sample=sample, images=images)

    def category(self, value: str, field: str) -> tuple[str, dict[str, Any]]:
        """(LAM3 category, meta entries recording the source's own category and how it mapped)."""
        entry = self.table.lookup(value, field)
        return entry.category, {"source_category": value, "category_exact": entry.exact}

    def meta(self, row_file: Path, line: int, source_id: Any, **extra: Any) -> dict[str, Any]:
        """The provenance every imported sample carries: benchmark, original id, file and line."""
        return {"benchmark": self.name, "source_id": source_id, "source_file": row_file.name,
                "source_line": line, **extra}
