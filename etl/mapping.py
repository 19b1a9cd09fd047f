"""Mapping files (TOML) that translate a source's export into the canonical record.

The format is DATA-CONTRACT.md "Mapping file". A mapping is checked completely when it is
parsed: an unknown key, an unknown canonical column or a value of the wrong type is a
:class:`MappingError` whose message names the file and the key, so a typo never silently drops a
column.
"""

from __future__ import annotations

import codecs
import difflib
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etl.contract import BY_NAME, CANONICAL_NAMES, FALSE_WORDS, TRUE_WORDS, ValueType

FORMATS: tuple[str, ...] = ("csv", "parquet", "xlsx", "json")
CANONICAL_SOURCE_NAME = "canonical"

_SECTIONS: tuple[str, ...] = ("source", "columns", "constants", "datetime_formats", "values")
_SOURCE_KEYS: tuple[str, ...] = (
    "name",
    "format",
    "delimiter",
    "encoding",
    "item_level",
    "list_separator",
    "timezone",
)


class MappingError(ValueError):
    """A mapping file is malformed; the message names the file and the offending key."""


@dataclass(frozen=True)
class Mapping:
    """A parsed, validated mapping. The default instance means "already canonical"."""

    name: str = CANONICAL_SOURCE_NAME
    format: str | None = None  # None: from the file extension
    delimiter: str = ","
    encoding: str = "utf-8"
    item_level: bool = False
    list_separator: str = ";"
    # IANA zone of the exporting system's clock for times delivered with an offset (Z, +03:00);
    # None = the administration's zone (CUSTOMS_KPI_TIMEZONE). See etl.validate.
    timezone: str | None = None
    # canonical column -> source column(s); several are joined with "-". Empty = identity.
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    datetime_formats: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # canonical column -> {source value (lower-case, trimmed): canonical value}
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = None

    @property
    def is_identity(self) -> bool:
        """No [columns] section: the delivery uses the canonical column names."""
        return not self.columns


def _hint(key: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _unknown(path: Path, where: str, key: str, allowed: tuple[str, ...]) -> MappingError:
    return MappingError(
        f"{path.name}: unknown key '{key}' in {where}{_hint(key, allowed)}; "
        f"allowed: {', '.join(allowed)}"
    )


def _canonical_key(path: Path, section: str, key: str) -> None:
    if key not in BY_NAME:
        raise MappingError(
            f"{path.name}: unknown canonical column '{key}' in [{section}]"
            f"{_hint(key, CANONICAL_NAMES)}"
        )


def _string(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise MappingError(f"{path.name}: {where} must be a string, got {value!r}")
    return value


def _strings(path: Path, where: str, value: Any) -> tuple[str, ...]:
    """A string or a non-empty list of strings."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise MappingError(
        f"{path.name}: {where} must be a string or a non-empty list of strings, got {value!r}"
    )


def _parse_source(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _SOURCE_KEYS:
            raise _unknown(path, "[source]", key, _SOURCE_KEYS)
        where = f"[source].{key}"
        if key == "item_level":
            if not isinstance(value, bool):
                raise MappingError(f"{path.name}: {where} must be true or false, got {value!r}")
            out[key] = value
            continue
        text = _string(path, where, value)
        if key == "format" and text.lower() not in FORMATS:
            raise MappingError(f"{path.name}: {where} '{text}' is not one of {', '.join(FORMATS)}")
        if key == "encoding":
            try:
                codecs.lookup(text)
            except LookupError as exc:
                raise MappingError(
                    f"{path.name}: {where} '{text}' is not a known encoding"
                ) from exc
        if key == "delimiter" and len(text) != 1:
            raise MappingError(f"{path.name}: {where} must be a single character, got {text!r}")
        if key == "timezone":
            try:
                zoneinfo.ZoneInfo(text)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise MappingError(
                    f"{path.name}: {where} '{text}' is not a known time zone (an IANA name "
                    "such as Asia/Riyadh or Africa/Casablanca)"
                ) from exc
        if key in ("list_separator", "name") and not text:
            raise MappingError(f"{path.name}: {where} must not be empty")
        out[key] = text.lower() if key == "format" else text
    return out


def _parse_values(path: Path, raw: Any) -> dict[str, dict[str, str]]:
    if not isinstance(raw, dict):
        raise MappingError(f"{path.name}: [values] must be tables like [values.channel]")
    out: dict[str, dict[str, str]] = {}
    for column, table in raw.items():
        _canonical_key(path, "values", column)
        if not isinstance(table, dict):
            raise MappingError(f"{path.name}: [values.{column}] must be a table of source = value")
        spec = BY_NAME[column]
        mapped: dict[str, str] = {}
        for source_value, target in table.items():
            where = f'[values.{column}]."{source_value}"'
            text = _string(path, where, target)
            if spec.value_type is ValueType.CODE and text not in spec.codes:
                raise MappingError(
                    f"{path.name}: {where} maps to '{text}', which is not a {column} "
                    f"(one of {', '.join(spec.codes)})"
                )
            is_bool = spec.value_type is ValueType.BOOLEAN
            if is_bool and text.lower() not in TRUE_WORDS + FALSE_WORDS:
                raise MappingError(f"{path.name}: {where} maps to '{text}', not a boolean")
            mapped[source_value.strip().lower()] = text
        out[column] = mapped
    return out


def parse_mapping(text: str, path: Path) -> Mapping:
    """Parse and validate mapping ``text`` (``path`` is used in messages and kept for lineage)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path.name}: not valid TOML: {exc}") from exc
    for key in doc:
        if key not in _SECTIONS:
            raise MappingError(
                f"{path.name}: unknown section [{key}]{_hint(key, _SECTIONS)}; "
                f"allowed: {', '.join(_SECTIONS)}"
            )
    for section in ("source", "columns", "constants", "datetime_formats"):
        if section in doc and not isinstance(doc[section], dict):
            raise MappingError(f"{path.name}: [{section}] must be a table")

    source = _parse_source(path, doc.get("source", {}))
    source.setdefault("name", path.stem)
    columns: dict[str, tuple[str, ...]] = {}
    for key, value in doc.get("columns", {}).items():
        _canonical_key(path, "columns", key)
        columns[key] = _strings(path, f"[columns].{key}", value)
    constants: dict[str, str] = {}
    for key, value in doc.get("constants", {}).items():
        _canonical_key(path, "constants", key)
        if key in columns:
            raise MappingError(
                f"{path.name}: '{key}' is in both [columns] and [constants]; keep one"
            )
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = str(value)
        constants[key] = _string(path, f"[constants].{key}", value)
    formats: dict[str, tuple[str, ...]] = {}
    for key, value in doc.get("datetime_formats", {}).items():
        _canonical_key(path, "datetime_formats", key)
        if BY_NAME[key].value_type is not ValueType.DATETIME:
            raise MappingError(
                f"{path.name}: [datetime_formats].{key}: '{key}' is not a date/time column"
            )
        formats[key] = _strings(path, f"[datetime_formats].{key}", value)
    values = _parse_values(path, doc.get("values", {}))

    if columns:
        missing = [
            c
            for c in CANONICAL_NAMES
            if BY_NAME[c].required and c not in columns and c not in constants
        ]
        if missing:
            raise MappingError(
                f"{path.name}: required canonical column(s) {', '.join(missing)} are neither in "
                "[columns] nor in [constants]"
            )
    return Mapping(
        columns=columns,
        constants=constants,
        datetime_formats=formats,
        values=values,
        path=path,
        **source,
    )


def load_mapping(path: Path | None) -> Mapping:
    """The mapping in ``path``, or the canonical (identity) mapping when ``path`` is None."""
    if path is None:
        return Mapping()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path.name}: cannot read mapping file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise MappingError(f"{path.name}: mapping file is not UTF-8 text") from exc
    return parse_mapping(text, path)
