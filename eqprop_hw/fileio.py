"""Small file helpers: atomic writes and reading rows of numbers from CSV files.

Every file the package writes for the user goes through :func:`atomic_write_bytes` (or
:func:`atomic_write_text`, :func:`atomic_output`): the data is written to a temporary file in the
same folder, flushed to disk and renamed over the target with :func:`os.replace`, so a reader
sees either the old file or the complete new one, never a half-written file; on any error the
temporary file is removed and the target is left untouched.

Examples
--------
>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> atomic_write_text(os.path.join(folder, "a.txt"), "hello\\n")
>>> open(os.path.join(folder, "a.txt")).read()
'hello\\n'
>>> sorted(os.listdir(folder))
['a.txt']
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Sequence

import numpy as np

from eqprop_hw.errors import InputDataError


def read_file_bytes(path, error_class=InputDataError, what: str = "") -> bytes:
    """The bytes of a user's file; a missing or unreadable file raises ``error_class``
    naming the file (``"no such file"`` / ``"cannot read<what>: <reason>"``)."""
    source = str(path)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise error_class("no such file", source) from None
    except OSError as error:
        raise error_class(f"cannot read{what}: {error.strerror or error}", source) from None


def _umask() -> int:
    """The process umask, read without changing it (Linux), else the usual 0o022."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` atomically.

    Parameters
    ----------
    path : str or path-like
        The file to (re)write.
    mode : {"wb", "w"}
        Binary, or text (UTF-8, ``\\n`` line endings).

    Yields
    ------
    file object
        Write to it; when the ``with`` block ends without an exception the data is flushed,
        fsynced and renamed to ``path``. On an exception the temporary file is removed and
        ``path`` is untouched.

    Raises
    ------
    OSError
        If the folder does not exist or is not writable (nothing is created).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        descriptor, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                                 dir=folder)
    except OSError as error:  # name the file the user asked for, not the temporary one
        raise type(error)(error.errno, error.strerror, str(target)) from None
    try:
        if mode == "w":
            handle = os.fdopen(descriptor, "w", encoding="utf-8", newline="\n")
        else:
            handle = os.fdopen(descriptor, "wb")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            permissions = os.stat(target).st_mode & 0o7777
        except OSError:
            permissions = 0o666 & ~_umask()
        os.chmod(temp_name, permissions)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX only)
        folder_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(folder_fd)
        finally:
            os.close(folder_fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines kept as ``\\n``) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _parse_float(text: str):
    try:
        return float(text)
    except ValueError:
        return None


def read_number_rows(path: str | os.PathLike, width: int,
                     names: Sequence[str] | None = None) -> np.ndarray:
    """Read a CSV file of numbers, one row per sample.

    Blank lines and lines starting with ``#`` are skipped. The first row may be a header of
    column names (a row in which no field is a number); it must have ``width`` fields, and if
    it is a reordering of ``names`` it must list them in the same order.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    width : int
        Number of values each row must have.
    names : sequence of str, optional
        Column names (used in messages and to check a header).

    Returns
    -------
    ndarray, shape (rows, width)

    Raises
    ------
    InputDataError
        Naming the file and line: a row of the wrong length, a field that is not a number, a
        NaN or infinite value, or a file without data rows.
    OSError
        If the file cannot be read.
    """
    source = str(path)
    expected = f"{width} value{'s' if width != 1 else ''} per row"
    if names:
        expected += f" ({', '.join(names)})"
    rows: list[list[float]] = []
    header_allowed = True
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            for fields in reader:
                line = reader.line_num
                fields = [field.strip() for field in fields]
                if not any(fields) or fields[0].startswith("#"):
                    continue
                parsed = [_parse_float(field) for field in fields]
                if header_allowed and all(value is None for value in parsed):
                    header_allowed = False
                    if len(fields) != width:
                        raise InputDataError(f"header has {len(fields)} column(s), expected "
                                             f"{expected}", source, line)
                    if names and sorted(fields) == sorted(names) and list(fields) != list(names):
                        raise InputDataError(f"header lists the inputs in another order than "
                                             f"the circuit ({', '.join(names)})", source, line)
                    continue
                header_allowed = False
                if len(fields) != width:
                    raise InputDataError(f"expected {expected}, got {len(fields)}", source, line)
                for column, (field, value) in enumerate(zip(fields, parsed), start=1):
                    if value is None:
                        raise InputDataError(f"column {column}: {field!r} is not a number",
                                             source, line)
                    if not math.isfinite(value):
                        raise InputDataError(f"column {column}: {field!r} is not a finite "
                                             "number", source, line)
                rows.append(parsed)
    except UnicodeDecodeError as error:
        raise InputDataError(f"not a UTF-8 text file ({error.reason})", source) from None
    except csv.Error as error:
        raise InputDataError(f"malformed CSV: {error}", source) from None
    if not rows:
        raise InputDataError(f"no data rows (expected {expected})", source)
    return np.asarray(rows, dtype=float).reshape(len(rows), width)


def read_bounded(path, limit: int, error_class=InputDataError, what: str = "file") -> bytes:
    """The bytes of a user's regular file, refusing more than ``limit`` bytes.

    The bytes actually read are counted (at most ``limit + 1`` are read), not the size that
    ``stat`` reports, and anything but a regular file (a FIFO, a device such as ``/dev/zero``,
    a folder) is refused before reading: neither can stream forever or block. Errors are
    ``error_class(message, path)``: ``no such file``, ``cannot read <what>: ...``,
    ``<what> is not a regular file``, ``<what> is larger than LIMIT bytes``.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> atomic_write_text(path, "hello\\n")
    >>> read_bounded(path, 100)
    b'hello\\n'
    """
    import stat
    source = str(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error_class("no such file", source) from None
    except OSError as error:
        raise error_class(f"cannot read {what}: {error.strerror or error}", source) from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise error_class(f"cannot read {what}: it is a directory", source)
        if not stat.S_ISREG(mode):
            raise error_class(f"{what} is not a regular file (a FIFO or device); refused",
                              source)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(descriptor, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise error_class(f"{what} is larger than {limit:,} bytes (the limit); refused",
                              source)
        return b"".join(chunks)
    except OSError as error:
        raise error_class(f"cannot read {what}: {error.strerror or error}", source) from None
    finally:
        os.close(descriptor)
