"""Manifests: TSV files with a header (``path duration speaker source license text``), paths
relative to the manifest's folder, the format of ``../shared/data`` and of the synthetic sets."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError


@dataclass(frozen=True)
class Utterance:
    path: Path
    duration: float
    text: str
    speaker: str = ""
    source: str = ""


class ManifestError(UsageError, ValueError):
    """A manifest that cannot be read: not UTF-8 text, a missing column, a bad value; names the file."""


def read_manifest(path: str | Path, columns: tuple[str, ...] = ("path", "duration", "text")) -> list[Utterance]:
    """Rows of a manifest with absolute audio paths; ``columns`` must be in its header
    (a manifest without ``duration``, when not required, gives durations of 0)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            rows = list(reader)
            header = reader.fieldnames or []
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a manifest (a UTF-8 TSV file with a header)") from None
    missing = [column for column in columns if column not in header]
    if missing:
        raise ManifestError(f"{path}: no {', '.join(missing)} column in the header (a TSV manifest needs "
                            f"{', '.join(columns)}; found: {', '.join(header) or 'nothing'})")
    utterances = []
    for line, row in enumerate(rows, start=2):
        try:
            duration = float(row.get("duration") or 0.0)
        except ValueError:
            raise ManifestError(f"{path}:{line}: duration {row['duration']!r} is not a number") from None
        if any(row[column] is None for column in ("path", *columns)):
            raise ManifestError(f"{path}:{line}: fewer fields than the header has")
        utterances.append(Utterance(path.parent / row["path"], duration, row.get("text") or "",
                                    row.get("speaker") or "", row.get("source") or ""))
    return utterances
