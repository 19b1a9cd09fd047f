"""Extract: a delivery file as delivered, as DuckDB strings in file order.

Every format (CSV, Parquet, XLSX, JSON) becomes the same thing: a :class:`Source`, a relation
whose columns are the file's own column names, all VARCHAR, in file order. The load reads it
once, straight into its typed table (etl.validate); :func:`stage_delivery` materialises it as a
table of strings (small files, tools). A table created from it keeps file order, so
``rowid - row_base + 1`` is the 1-based data row (header excluded) that quarantine messages cite
(row ids of a table created inside a transaction start at a large offset, hence ``row_base``).
Parsing is DuckDB's (or calamine's for Excel); Python only looks at the first bytes to recognise
binary files and at the tail to tell a truncated file from a malformed one.

Problems that make the whole file unusable raise :class:`DeliveryError`, whose message names the
file and the problem.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from etl.contract import CANONICAL, Column
from etl.mapping import Mapping

SNIFF_BYTES = 1 << 16
_CHUNK = 1 << 24
# Encodings DuckDB's CSV reader decodes itself; others are transcoded to UTF-8 first.
_DUCKDB_ENCODINGS: dict[str, str] = {"utf-8": "utf-8", "utf-16": "utf-16", "latin-1": "latin-1"}
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a ZIP archive (or an Excel workbook)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office (.xls/.doc) file"),
    (b"SQLite format 3", "an SQLite database"),
)
_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}


class DeliveryError(Exception):
    """The whole file cannot be loaded; nothing from it reaches the warehouse."""


@dataclass(frozen=True)
class Staged:
    """A delivery staged as a table of strings (``rowid - row_base + 1`` = source row)."""

    table: str
    columns: tuple[str, ...]
    rows: int
    format: str
    row_base: int = 0

    @property
    def source_row(self) -> str:
        """SQL for the 1-based source row of a row of :attr:`table`."""
        return f"(rowid - {self.row_base} + 1)"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def detect_format(path: Path, mapping: Mapping) -> str:
    """The mapping's [source].format, else the file extension, else CSV."""
    if mapping.format:
        return mapping.format
    return _EXTENSIONS.get(path.suffix.lower(), "csv")


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(SNIFF_BYTES)
    except IsADirectoryError as exc:
        raise DeliveryError(f"{path.name}: is a folder, not a file") from exc
    except OSError as exc:
        raise DeliveryError(f"{path.name}: cannot be read: {exc.strerror or exc}") from exc


def _magic(head: bytes) -> str | None:
    for signature, what in _MAGIC:
        if head.startswith(signature):
            return what
    return None


def _check_binary(path: Path, head: bytes, fmt: str, encoding: str) -> None:
    """Reject files that are not text of the declared kind before a parser reports noise."""
    what = _magic(head)
    expected = {"parquet": b"PAR1", "xlsx": b"PK\x03\x04"}.get(fmt)
    if expected is not None:
        if not head.startswith(expected):
            kind = what or ("text" if b"\x00" not in head else "binary data")
            raise DeliveryError(f"{path.name}: is not a valid {fmt} file (it looks like {kind})")
        return
    if what is not None:
        raise DeliveryError(f"{path.name}: is not a tabular text file: it is {what}")
    utf16 = encoding.lower().replace("_", "-").startswith("utf-16")
    if not utf16 and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        if b"\x00" in head:
            raise DeliveryError(
                f"{path.name}: is not a tabular text file: it contains binary data (NUL bytes)"
            )
        text = head.decode("latin-1")
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t\f")
        if text and controls > max(8, len(text) // 100):
            raise DeliveryError(f"{path.name}: is not a tabular text file: it contains binary data")


def _normal_encoding(name: str) -> str:
    return codecs.lookup(name).name  # 'utf8' -> 'utf-8', 'latin1' -> 'iso8859-1' ...


def _scan_utf8(path: Path) -> tuple[bool, bool]:
    """(whole file is valid UTF-8, it contains non-ASCII bytes), read in large chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    non_ascii = False
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            if not non_ascii and not chunk.isascii():
                non_ascii = True
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False, non_ascii
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False, non_ascii
    return True, non_ascii


def _utf8_error(path: Path) -> DeliveryError:
    """Locate the first undecodable byte (line number) for the message."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk.count(b"\n", 0, exc.start)
                byte = chunk[exc.start]
                return DeliveryError(
                    f"{path.name}: is not valid utf-8 (byte 0x{byte:02X} on line {line}); "
                    "it is probably latin-1 or cp1252: set [source] encoding in the mapping"
                )
            line += chunk.count(b"\n")
    return DeliveryError(f"{path.name}: is not valid utf-8 (it ends inside a character)")


@contextmanager
def _utf8_copy(path: Path, encoding: str) -> Iterator[Path]:
    """A UTF-8 copy of a file in an encoding DuckDB does not decode itself."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with tempfile.TemporaryDirectory(prefix="customs-kpi-") as tmp:
        out = Path(tmp) / (path.stem + ".utf8.csv")
        line = 1
        with path.open("rb") as src, out.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                try:
                    dst.write(decoder.decode(chunk).encode("utf-8"))
                except UnicodeDecodeError as exc:
                    line += chunk.count(b"\n", 0, exc.start)
                    raise DeliveryError(
                        f"{path.name}: cannot be decoded as {encoding} "
                        f"(byte 0x{chunk[exc.start]:02X} on line {line})"
                    ) from exc
                line += chunk.count(b"\n")
            dst.write(decoder.decode(b"", final=True).encode("utf-8"))
        yield out


def _header(path: Path, head: bytes, encoding: str, delimiter: str) -> list[str]:
    text = head.decode(encoding, errors="replace").removeprefix("\ufeff")
    if not text.strip():
        raise DeliveryError(f"{path.name}: is empty")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"')
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise DeliveryError(f"{path.name}: has no readable header line") from exc
    names = [h.strip() for h in header]
    if not any(names):
        raise DeliveryError(f"{path.name}: the header line is empty")
    # A trailing delimiter ("a,b,c,") gives unnamed columns: name them so they can be read.
    names = [n or f"column{i}" for i, n in enumerate(names, 1)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DeliveryError(f"{path.name}: column '{name}' appears twice in the header")
        seen.add(name)
    return names


def _tail_matches(path: Path, original_line: str) -> bool:
    """Is ``original_line`` the last line of the file (a row cut short by truncation)?"""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - SNIFF_BYTES))
        tail = fh.read().decode("utf-8", errors="replace").rstrip("\r\n")
    return bool(original_line) and tail.endswith(original_line.rstrip("\r\n"))


def _csv_error(path: Path, exc: duckdb.Error) -> DeliveryError:
    message = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", message)
    where = f"line {line.group(1)}" if line else "a line"
    original = re.search(r"Original Line: (.*)", message)
    counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    if "unterminated quote" in message:
        return DeliveryError(
            f"{path.name}: is truncated or malformed: a quoted value opened on {where} is never "
            "closed"
        )
    if counts:
        expected, found = counts.groups()
        if original and int(found) < int(expected) and _tail_matches(path, original.group(1)):
            return DeliveryError(
                f"{path.name}: is truncated: the last row ({where}) ends after {found} of "
                f"{expected} fields"
            )
        return DeliveryError(
            f"{path.name}: is malformed: {where} has {found} fields but the header has {expected}"
        )
    if "Invalid unicode" in message:
        return _utf8_error(path)
    first = message.splitlines()[0] if message else type(exc).__name__
    return DeliveryError(f"{path.name}: cannot be read as CSV: {first}")


@dataclass(frozen=True)
class Source:
    """A delivery as a relation of strings, not yet materialised.

    ``relation`` can be used in a FROM clause while the :func:`open_source` context is open
    (it may refer to a transcoded copy or a registered frame). Reading happens when a statement
    uses it, so such statements go through :meth:`run`, which turns the readers' errors
    (truncation, encoding...) into :class:`DeliveryError`.
    """

    path: Path
    relation: str
    columns: tuple[str, ...]
    format: str

    def run(self, con: duckdb.DuckDBPyConnection, sql: str) -> None:
        try:
            con.sql(sql)
        except duckdb.Error as exc:
            error = _read_error(self.path, self.format, exc)
            if error is None:
                raise
            raise error from exc


def _read_error(path: Path, fmt: str, exc: duckdb.Error) -> DeliveryError | None:
    """The reader's error as a DeliveryError, or None when it is not about the file."""
    message = str(exc)
    first = message.splitlines()[0] if message else type(exc).__name__
    if fmt == "csv":
        if "CSV Error" in message or "Invalid unicode" in message or "CSV file" in message:
            return _csv_error(path, exc)
        return None
    if fmt == "parquet" and ("arquet" in message or "magic" in message.lower()):
        if "magic" in first.lower() or "footer" in first.lower():
            return DeliveryError(f"{path.name}: is truncated or not a Parquet file ({first})")
        return DeliveryError(f"{path.name}: cannot be read as Parquet: {first}")
    if fmt == "json" and "JSON" in message:
        return DeliveryError(f"{path.name}: cannot be read as JSON records: {first}")
    return None


def _csv_source(path: Path, mapping: Mapping, stack: ExitStack) -> Source:
    head = _head(path)
    _check_binary(path, head, "csv", mapping.encoding)
    if not head.strip():
        raise DeliveryError(f"{path.name}: is empty")
    encoding = _normal_encoding(mapping.encoding)
    if encoding in ("utf-8", "utf-8-sig"):
        duck_encoding: str | None = "utf-8"
    elif encoding.startswith("utf-16"):
        duck_encoding = "utf-16"
    elif encoding == "iso8859-1":
        duck_encoding = "latin-1"
    else:
        duck_encoding = None
    if duck_encoding != "utf-8" and not encoding.startswith("utf-16"):
        # A single-byte encoding decodes anything, so a UTF-8 file declared latin-1 would load
        # as mojibake ("CafÃ©") without this check.
        valid, non_ascii = _scan_utf8(path)
        if valid and non_ascii:
            raise DeliveryError(
                f"{path.name}: is declared {mapping.encoding} but is UTF-8 encoded (its accented "
                'characters would be garbled): set [source] encoding = "utf-8"'
            )
    if duck_encoding == "utf-8":
        header_encoding = "utf-8-sig"
        try:  # the last few bytes may be a character cut by the sniff window
            head[: max(0, len(head) - 4)].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _utf8_error(path) from exc
    else:
        header_encoding = "utf-16" if duck_encoding == "utf-16" else encoding
    names = _header(path, head, header_encoding, mapping.delimiter)
    read_path, read_encoding = path, duck_encoding or "utf-8"
    if duck_encoding is None:
        read_path = stack.enter_context(_utf8_copy(path, mapping.encoding))
    columns = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in names) + "}"
    relation = (
        f"read_csv({quote_literal(str(read_path))}, columns = {columns}, auto_detect = false, "
        f"header = true, delim = {quote_literal(mapping.delimiter)}, quote = '\"', "
        f"escape = '\"', strict_mode = true, null_padding = false, "
        f"encoding = {quote_literal(read_encoding)})"
    )
    return Source(path=path, relation=relation, columns=tuple(names), format="csv")


def _stringified(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, relation: str) -> Source:
    """A Source selecting every column of ``relation`` as VARCHAR (lists joined with ';')."""
    try:
        described = con.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.Error as exc:
        error = _read_error(path, fmt, exc)
        if error is None:
            raise
        raise error from exc
    parts = []
    for name, dtype, *_ in described:
        col = quote_ident(name)
        if dtype.endswith("[]"):
            expr = f"array_to_string({col}, ';')"
        elif dtype == "JSON":
            # Mixed JSON values: arrays become lists, strings lose their quotes.
            expr = (
                f"CASE json_type({col}) WHEN 'ARRAY' THEN array_to_string(from_json({col}, "
                f"'[\"VARCHAR\"]'), ';') WHEN 'OBJECT' THEN {col}::VARCHAR "
                f"ELSE {col} ->> '$' END"
            )
        elif dtype.startswith(("STRUCT", "MAP")):
            expr = f"to_json({col})::VARCHAR"
        else:
            expr = f"{col}::VARCHAR"
        parts.append(f"{expr} AS {col}")
    columns = tuple(str(row[0]) for row in described)
    return Source(path, f"(SELECT {', '.join(parts)} FROM {relation})", columns, fmt)


def _parquet_source(con: duckdb.DuckDBPyConnection, path: Path) -> Source:
    head = _head(path)
    if not head:
        raise DeliveryError(f"{path.name}: is empty")
    _check_binary(path, head, "parquet", "utf-8")
    return _stringified(con, path, "parquet", f"read_parquet({quote_literal(str(path))})")


def _xlsx_source(con: duckdb.DuckDBPyConnection, path: Path, stack: ExitStack) -> Source:
    head = _head(path)
    if not head:
        raise DeliveryError(f"{path.name}: is empty")
    _check_binary(path, head, "xlsx", "utf-8")
    try:
        # Every cell as text so codes like "0042" keep their zeros; dates come as ISO strings.
        frame = pl.read_excel(path, engine="calamine", infer_schema_length=0)
    except Exception as exc:  # calamine raises several unrelated exception types
        raise DeliveryError(f"{path.name}: cannot be read as an Excel workbook: {exc}") from exc
    if frame.width == 0:
        raise DeliveryError(f"{path.name}: is empty (its first sheet has no cells)")
    name = f"_xlsx_{id(frame)}"
    con.register(name, frame.select(pl.all().cast(pl.String)))
    stack.callback(con.unregister, name)
    return _stringified(con, path, "xlsx", name)


def _json_source(con: duckdb.DuckDBPyConnection, path: Path) -> Source:
    head = _head(path)
    if not head.strip():
        raise DeliveryError(f"{path.name}: is empty")
    _check_binary(path, head, "json", "utf-8")
    if not head.lstrip().startswith((b"[", b"{")):
        raise DeliveryError(
            f"{path.name}: is not tabular JSON (expected an array of records or one record per "
            "line)"
        )
    relation = f"read_json({quote_literal(str(path))}, format = 'auto', records = true)"
    source = _stringified(con, path, "json", relation)
    if source.columns == ("json",):
        raise DeliveryError(f"{path.name}: is not tabular JSON (its items are not records)")
    return source


@contextmanager
def open_source(con: duckdb.DuckDBPyConnection, path: Path, mapping: Mapping) -> Iterator[Source]:
    """The delivery as a :class:`Source`; file-level problems found up front raise
    DeliveryError, the rest when the relation is read (via :meth:`Source.run`)."""
    if not path.exists():
        raise DeliveryError(f"{path.name}: does not exist ({path})")
    fmt = detect_format(path, mapping)
    with ExitStack() as stack:
        if fmt == "csv":
            yield _csv_source(path, mapping, stack)
        elif fmt == "parquet":
            yield _parquet_source(con, path)
        elif fmt == "xlsx":
            yield _xlsx_source(con, path, stack)
        else:
            yield _json_source(con, path)


def staged_rows(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> tuple[int, int]:
    """(rows, row_base) of a table materialised from a delivery, in file order."""
    first, last, count = con.sql(
        f"SELECT min(rowid), max(rowid), count(*) FROM {table}"
    ).fetchall()[0]
    rows = int(count)
    if rows == 0:
        raise DeliveryError(f"{path.name}: has a header but no data rows")
    if int(last) - int(first) + 1 != rows:  # row numbers would be wrong: never guess them
        raise RuntimeError(f"staged row ids of {path.name} are not contiguous")
    return rows, int(first)


def stage_delivery(
    con: duckdb.DuckDBPyConnection, path: Path, mapping: Mapping, table: str = "_raw"
) -> Staged:
    """Stage ``path`` into temporary ``table`` (strings, file order). Raises DeliveryError."""
    with open_source(con, path, mapping) as source:
        source.run(con, f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM {source.relation}")
    rows, base = staged_rows(con, path, table)
    return Staged(
        table=table, columns=source.columns, rows=rows, format=source.format, row_base=base
    )


def _delimiter_hint(names: tuple[str, ...], delimiter: str) -> str:
    if len(names) != 1:
        return ""
    for candidate in (";", ",", "\t", "|"):
        if candidate != delimiter and candidate in names[0]:
            shown = "\\t" if candidate == "\t" else candidate
            header = names[0] if len(names[0]) <= 60 else names[0][:57] + "..."
            return (
                f"; the header is a single column '{header}': the file looks "
                f"'{shown}'-separated, set [source] delimiter in the mapping"
            )
    return ""


def resolve_columns(
    path: Path,
    columns: tuple[str, ...],
    mapping: Mapping,
    contract: tuple[Column, ...] = CANONICAL,
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """canonical column -> the file's own column names, and warnings for optional ones missing.

    Names match exactly, else ignoring case and surrounding blanks (exports differ in case).
    A required canonical column the mapping cannot provide is a DeliveryError.
    """
    spec = {c.name: c for c in contract}
    by_folded = {c.strip().lower(): c for c in columns}

    def find(name: str) -> str | None:
        return name if name in columns else by_folded.get(name.strip().lower())

    wanted: dict[str, tuple[str, ...]]
    if mapping.is_identity:
        wanted = {n: (n,) for n in spec if find(n) is not None and n not in mapping.constants}
    else:
        wanted = dict(mapping.columns)
    resolved: dict[str, tuple[str, ...]] = {}
    missing_required: list[str] = []
    warnings: list[str] = []
    for canonical, sources in wanted.items():
        found = [find(s) for s in sources]
        if all(f is not None for f in found):
            resolved[canonical] = tuple(f for f in found if f is not None)
            continue
        absent = ", ".join(f"'{s}'" for s, f in zip(sources, found, strict=True) if f is None)
        if spec[canonical].required:
            missing_required.append(f"{canonical} (from {absent})")
        else:
            warnings.append(f"column {absent} for {canonical} is not in the file: left empty")
    for col in contract:
        if col.required and col.name not in wanted and col.name not in mapping.constants:
            missing_required.append(col.name)
    if missing_required:
        raise DeliveryError(
            f"{path.name}: required column(s) missing: {', '.join(missing_required)}"
            f"{_delimiter_hint(columns, mapping.delimiter)}"
        )
    if mapping.is_identity:
        # A misspelt canonical name would silently drop a column: say which ones are ignored.
        used = {s for sources in resolved.values() for s in sources}
        for name in columns:
            if name not in used:
                close = difflib.get_close_matches(name.strip().lower(), list(spec), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                warnings.append(f"column '{name}' is not a canonical column{hint}: ignored")
    return resolved, warnings
