"""Atomic file writing.

Results are written to a temporary file beside the target and renamed into place, so a
failed or interrupted run never leaves a half-written output file.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _new_file_mode(path: Path) -> int:
    """The permissions ``path`` keeps (if it exists) or a new file gets: mkstemp's 0600
    would otherwise make every output private."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary name beside ``path`` for a writer that wants a file name (safetensors, torch):
    renamed onto ``path`` when the block ends, with the permissions a plain new file would get
    (or the old file's), and removed if the block fails or is interrupted."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output directory does not exist: {path.parent}")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, _new_file_mode(path))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, content: str) -> None:
    """Write ``content`` to ``path`` via a temporary file and a rename; any failure, an
    interrupt included, leaves the previous file (if any) untouched and no temporary behind.
    File names that are not valid UTF-8 are written back as their original bytes."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8", errors="surrogateescape") as out:
            out.write(content)
