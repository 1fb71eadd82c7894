"""Output files that never destroy anything.

A regular file is written beside its place and renamed onto it, so a failed or interrupted
run never leaves a half-written file; a symbolic link is followed and the file it names is
replaced, never the link. A device, a FIFO or a terminal cannot be replaced by renaming (that
would turn /dev/full into a plain file and leave a FIFO's reader waiting), nor can standard
output named as /dev/stdout: these are written through.
"""
from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_PROCESS_LINKS = ("/proc/", "/dev/fd/")
"""Links that name an open file of a process (/dev/stdout -> /proc/self/fd/1): the place to write
is the open file itself, whatever the link's text says."""


def writes_through(path: str | Path) -> bool:
    """Whether ``path`` is written in place: it exists and is not a regular file (a device, a FIFO,
    a folder, which then fails as one), or it reaches its file through a process's open files."""
    current = os.path.abspath(path)
    for _ in range(40):
        if current.startswith(_PROCESS_LINKS):
            return True
        if not os.path.islink(current):
            break
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def _new_file_mode(path: Path) -> int:
    """The permissions ``path`` keeps (if it exists) or a new file gets: mkstemp's 0600
    would otherwise make every output private."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _temporary_beside(path: str | Path) -> tuple[Path, Path]:
    """The file that ``path`` names (links followed) and a new empty temporary file beside it."""
    target = Path(os.path.realpath(path))
    if not target.parent.is_dir():
        raise FileNotFoundError(f"output directory does not exist: {Path(path).parent}")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    return target, Path(temporary)


def _move_into_place(temporary: Path, target: Path) -> None:
    try:
        os.chmod(temporary, _new_file_mode(target))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary name beside ``path`` for a writer that wants a file name (safetensors, torch):
    renamed onto ``path`` (the file it names, if it is a link) when the block ends, with the
    permissions a plain new file would get (or the old file's), and removed if the block fails or
    is interrupted."""
    target, temporary = _temporary_beside(path)
    try:
        yield temporary
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _move_into_place(temporary, target)


class OutputFile:
    """An output written piece by piece as results finish (:meth:`write`), used as a context
    manager. A regular file gets its content when the block ends: all of it, or after a failure or
    an interruption what was written before it (if nothing was, the previous file stays as it
    was). Devices, FIFOs and /dev/stdout get each piece as it is written. Opening it is the check
    that the output can be written, before any work goes into it. File names that are not valid
    UTF-8 are written back as their original bytes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.written = self._broken = False
        self._place: tuple[Path, Path] | None = None
        if writes_through(self.path):
            self._handle = open(self.path, "a", encoding="utf-8", errors="surrogateescape")
        else:
            self._place = _temporary_beside(self.path)
            self._handle = open(self._place[1], "w", encoding="utf-8", errors="surrogateescape")

    def write(self, text: str) -> None:
        try:
            self._handle.write(text)
            self._handle.flush()
        except BaseException:
            self._broken = True
            raise
        self.written = True

    def __enter__(self) -> "OutputFile":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            self._handle.close()
        except OSError:
            self._discard()
            if self._broken:
                return
            raise
        if self._broken or not (kind is None or self.written):
            self._discard()
        elif self._place is not None:
            target, temporary = self._place
            _move_into_place(temporary, target)

    def _discard(self) -> None:
        if self._place is not None:
            self._place[1].unlink(missing_ok=True)


def atomic_write(path: str | Path, content: str) -> None:
    """Write ``content`` to ``path`` whole (:class:`OutputFile`): any failure, an interrupt
    included, leaves the previous file (if any) untouched and no temporary behind."""
    with OutputFile(path) as output:
        output.write(content)
