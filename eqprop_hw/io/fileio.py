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
import errno
import functools
import io
import math
import os
import re
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO, Iterator, Sequence

import numpy as np

from eqprop_hw.errors import QUOTE_CHARS, InputDataError, quote  # noqa: F401 - re-exported


#: Limits on what is read from users' files (documented in docs/specs.md, "Limits").
#: Bytes of a text file: CSV rows of inputs, JSON params, lc waveform files.
MAX_TEXT_BYTES = 64 * 2**20
#: Data rows of a CSV file.
MAX_CSV_ROWS = 1_000_000
#: Bytes of a binary file on disk: IDX / NPZ data, NPZ params, checkpoints.
MAX_BINARY_BYTES = 1 * 2**30
#: Bytes produced by decompressing one file (gzip IDX, all used members of an NPZ archive).
MAX_DECOMPRESSED_BYTES = 1 * 2**30
#: Largest decompressed / compressed ratio accepted once the output passes
#: COMPRESSION_RATIO_FLOOR bytes (deflate reaches ~1030:1 on zeros; real data < 20:1).
MAX_COMPRESSION_RATIO = 200
COMPRESSION_RATIO_FLOOR = 1 * 2**20
#: Members of an NPZ archive.
MAX_NPZ_MEMBERS = 64
#: Bytes of an NPY array header.
MAX_NPY_HEADER_BYTES = 10_000
#: Nesting depth of a JSON document (params files, checkpoint metrics).
MAX_JSON_DEPTH = 32
def size_text(size: int) -> str:
    """A byte count for messages: ``"67108864 bytes (64 MiB)"``."""
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size} bytes ({size / factor:.4g} {unit})"
    return f"{size} byte{'s' if size != 1 else ''}"


def _too_large(size_or_more: str, limit: int, what: str) -> str:
    return f"{what} too large: {size_or_more}, the limit is {size_text(limit)}"


def read_bounded(path, limit: int, error_class=InputDataError, what: str = "file",
                 missing: str = "no such file") -> bytes:
    """The bytes of a user's regular file of at most ``limit`` bytes.

    The file is opened without blocking (a FIFO without writer does not hang), refused unless
    it is a regular file (folders, FIFOs, sockets, devices such as ``/dev/zero``), refused if
    its size is above ``limit``, and at most ``limit + 1`` bytes are ever read (a file that
    grows while read is refused too).

    Parameters
    ----------
    path : str or path-like
    limit : int
        Largest accepted size (bytes).
    error_class : type
        A :class:`~eqprop_hw.errors.LocatedError` class, called as ``(message, source)``.
    what : str
        What the file is, for messages (``"params file"``).
    missing : str
        The message for a file that does not exist.

    Raises
    ------
    error_class
        ``"no such file"``, ``"is a folder, not a file"``, ``"not a regular file ..."``,
        ``"... too large ..."`` or ``"cannot read ...: reason"``, naming the file.
    """
    source = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise error_class(missing, source) from None
    except IsADirectoryError:
        raise error_class(f"is a folder, not a file (cannot read {what})", source) from None
    except OSError as error:
        raise error_class(f"cannot read {what}: {error.strerror or error}", source) from None
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise error_class(f"is a folder, not a file (cannot read {what})", source)
        if not stat.S_ISREG(info.st_mode):
            raise error_class(f"not a regular file ({_file_kind(info.st_mode)}): a {what} "
                              "must be a regular file", source)
        if info.st_size > limit:
            raise error_class(_too_large(size_text(info.st_size), limit, what), source)
    except BaseException:
        os.close(descriptor)
        raise
    with os.fdopen(descriptor, "rb", buffering=0) as handle:
        try:
            chunks, left = [], limit + 1
            while left > 0:
                chunk = handle.read(min(left, 2**24))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        except OSError as error:
            raise error_class(f"cannot read {what}: {error.strerror or error}",
                              source) from None
    data = b"".join(chunks)
    if len(data) > limit:
        raise error_class(_too_large(f"more than {size_text(limit)}", limit, what), source)
    return data


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def read_file_bytes(path, error_class=InputDataError, what: str = "",
                    limit: int = MAX_BINARY_BYTES) -> bytes:
    """The bytes of a user's file; a missing or unreadable file raises ``error_class``
    naming the file (``"no such file"`` / ``"cannot read<what>: <reason>"``); a file that is
    not a regular file or is larger than ``limit`` bytes is refused (:func:`read_bounded`)."""
    label = what.strip() or "file"
    if not label.endswith("file"):
        label += " file"
    return read_bounded(path, limit, error_class, label)


def decompress_gzip(raw: bytes, source: str, error_class=InputDataError,
                    limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Decompress gzip data (one or more members), at most ``limit`` bytes produced and a
    ratio of at most :data:`MAX_COMPRESSION_RATIO` above :data:`COMPRESSION_RATIO_FLOOR`.

    Raises
    ------
    error_class
        Corrupt or truncated data, or output beyond a limit (a "gzip bomb"), naming the file.
    """
    output, produced, data = [], 0, raw
    try:
        while data:
            engine = zlib.decompressobj(wbits=31)
            while True:
                chunk = engine.decompress(data, 2**22)
                data = engine.unconsumed_tail
                produced += len(chunk)
                _check_expansion(produced, len(raw), limit, source, error_class, "gzip data")
                output.append(chunk)
                if engine.eof or not data:
                    break
            if not engine.eof:
                raise error_class("corrupt or truncated gzip data: the stream ends early",
                                  source)
            data = engine.unused_data
            if data and data[:2] != b"\x1f\x8b":
                break   # trailing padding after the last member (as gzip.decompress allows)
    except zlib.error as error:
        raise error_class(f"corrupt or truncated gzip data: {error}", source) from None
    return b"".join(output)


def _check_expansion(produced: int, compressed: int, limit: int, source: str, error_class,
                     what: str) -> None:
    if produced > limit:
        raise error_class(f"{what} decompresses to more than {size_text(limit)} (the limit)",
                          source)
    if produced > COMPRESSION_RATIO_FLOOR and produced > MAX_COMPRESSION_RATIO * max(compressed,
                                                                                    1):
        raise error_class(f"{what} expands more than {MAX_COMPRESSION_RATIO}:1 when "
                          f"decompressed ({size_text(compressed)} compressed): refused as a "
                          "decompression bomb", source)


_NPY_KINDS = "biuf"


def parse_npy(data: bytes, source: str, name: str, error_class=InputDataError,
              strings: bool = False) -> np.ndarray:
    """An array from NPY bytes, its header checked before anything is allocated.

    Only plain numeric (and with ``strings`` unicode) dtypes; no object arrays (pickles), no
    structured dtypes; the header's shape times the item size must be exactly the bytes that
    follow it.

    Raises
    ------
    error_class
        Naming the file and the array ``name``.
    """
    from numpy.lib import format as npy_format
    stream = io.BytesIO(data)
    where = f"array {name!r}"
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(
                stream, max_header_size=MAX_NPY_HEADER_BYTES)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy_format.read_array_header_2_0(
                stream, max_header_size=MAX_NPY_HEADER_BYTES)
        else:
            raise ValueError(f"unsupported NPY version {version}")
    except (ValueError, EOFError, OSError, SyntaxError, TypeError) as error:
        raise error_class(f"{where}: not a valid NPY array ({quote(error, 160)})",
                          source) from None
    allowed = _NPY_KINDS + ("U" if strings else "")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or \
            dtype.kind not in allowed:
        raise error_class(f"not a readable .npz archive: {where} has dtype {quote(dtype.str)} "
                          f"(allowed: numbers{', strings' if strings else ''}; objects and "
                          "pickles are never loaded)", source)
    if len(shape) > 32 or any(not isinstance(n, int) or n < 0 for n in shape):
        raise error_class(f"{where}: bad shape in the NPY header", source)
    count = math.prod(shape)
    offset = stream.tell()
    expected, actual = count * dtype.itemsize, len(data) - offset
    if expected != actual:
        raise error_class(f"{where}: the NPY header declares shape {str(shape)[:60]} "
                          f"({size_text(expected)}) but {size_text(actual)} follow", source)
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    array = array.reshape(shape, order="F" if fortran else "C")
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_npz(raw: bytes, source: str, keys, error_class=InputDataError,
             strings: bool = False, limit: int = MAX_DECOMPRESSED_BYTES) -> dict:
    """The arrays ``keys`` of an NPZ archive held in ``raw`` (those present; the caller
    reports missing ones), checked before decompression and allocation.

    The archive must be a zip file of at most :data:`MAX_NPZ_MEMBERS` ``.npy`` members stored
    or deflated; the members read must declare at most ``limit`` bytes in total and a ratio
    within :data:`MAX_COMPRESSION_RATIO` (zip bombs), and each holds exactly the array its NPY
    header declares (:func:`parse_npy`).

    Returns
    -------
    dict of str to ndarray
        Only the members named in ``keys``, plus the key ``""`` holding the list of every
        array name in the archive.
    """
    if raw[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise error_class("not a readable .npz archive (no zip header)", source)
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            NotImplementedError) as error:
        raise error_class(f"not a readable .npz archive ({quote(error, 160)})",
                          source) from None
    if len(infos) > MAX_NPZ_MEMBERS:
        raise error_class(f"{len(infos)} members in the .npz archive, the limit is "
                          f"{MAX_NPZ_MEMBERS}", source)
    members = {}
    for info in infos:
        name = info.filename
        key = name[:-4] if name.endswith(".npy") else name
        if key in members:
            raise error_class(f"array {quote(key)} appears twice in the .npz archive", source)
        members[key] = info
    wanted = [members[key] for key in keys if key in members]
    declared = sum(info.file_size for info in wanted)
    if declared > limit:
        raise error_class(f"the arrays declare {size_text(declared)} uncompressed, the limit "
                          f"is {size_text(limit)}", source)
    arrays: dict = {"": list(members)}
    for key, info in ((k, members[k]) for k in keys if k in members):
        arrays[key] = parse_npy(_member_bytes(archive, info, source, error_class), source, key,
                                error_class, strings)
    return arrays


def _member_bytes(archive, info, source, error_class) -> bytes:
    name = quote(info.filename)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise error_class(f"member {name}: compression method {info.compress_type} is refused "
                          "(stored or deflate only)", source)
    if info.flag_bits & 0x1:
        raise error_class(f"member {name} is encrypted", source)
    _check_expansion(info.file_size, info.compress_size, MAX_DECOMPRESSED_BYTES, source,
                     error_class, f"member {name}")
    try:   # zipfile stops at the declared size and checks the CRC
        with archive.open(info) as handle:
            data = handle.read(info.file_size + 1)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error,
            NotImplementedError, RuntimeError) as error:
        raise error_class(f"member {name}: cannot read ({quote(error, 160)})",
                          source) from None
    if len(data) != info.file_size:
        raise error_class(f"member {name}: {size_text(len(data))} instead of the declared "
                          f"{size_text(info.file_size)}", source)
    return data


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: bytes | str) -> int:
    """Deepest nesting of ``[``/``{`` in a JSON text (strings skipped), without parsing."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    skeleton = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    if not skeleton.size:
        return 0
    steps = (np.isin(skeleton, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(skeleton, (ord("]"), ord("}"))))
    return int(max(np.cumsum(steps).max(), 0))


def check_json_depth(text, source: str, error_class, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse a JSON text nested deeper than ``limit`` (before :func:`json.loads`)."""
    depth = json_depth(text)
    if depth > limit:
        raise error_class(f"JSON nested {depth} levels deep, the limit is {limit}", source)


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
    if target.is_dir():     # name the user's path, not the temporary file os.replace would
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(target))
    try:
        descriptor, temp_name = _temporary(folder, target)
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
            os.fchmod(handle.fileno(), permissions)
            if temp_name is None:       # anonymous: it gets a name only now, just before the
                temp_name = _link_name(folder, target)   # rename (no name while written)
                _link_anonymous(handle.fileno(), temp_name)
        os.replace(temp_name, target)
    except BaseException:
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX only)
        folder_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(folder_fd)
        finally:
            os.close(folder_fd)


def _temporary(folder: Path, target: Path) -> tuple[int, str | None]:
    """A file to write ``target``'s new contents to: on Linux an anonymous file in ``folder``
    (``O_TMPFILE``: a process killed while writing, even by SIGKILL, leaves nothing behind),
    named (``(descriptor, None)``) only when it is complete; elsewhere a named temporary file
    ``.NAME.XXXX.tmp`` (``(descriptor, name)``)."""
    flag = getattr(os, "O_TMPFILE", 0)
    if flag and _linkat() is not None and os.path.isdir("/proc/self/fd"):
        try:
            return os.open(folder, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600), None
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
                raise
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    return descriptor, name


@functools.lru_cache(maxsize=1)
def _linkat():
    """libc's ``linkat`` (Linux), which gives an ``O_TMPFILE`` file a name through
    ``/proc/self/fd`` (``os.link`` cannot: it does not follow that link); None elsewhere."""
    try:
        import ctypes
        function = ctypes.CDLL(None, use_errno=True).linkat
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_int]
    return function


def _link_anonymous(descriptor: int, name: str) -> None:
    """Name the anonymous file open as ``descriptor`` (``linkat(AT_SYMLINK_FOLLOW)``)."""
    import ctypes
    at_fdcwd, at_symlink_follow = -100, 0x400
    if _linkat()(at_fdcwd, f"/proc/self/fd/{descriptor}".encode(), at_fdcwd,
                 os.fsencode(name), at_symlink_follow) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), name)


def _link_name(folder: Path, target: Path) -> str:
    """A free temporary name next to ``target`` for the moment between link and rename."""
    return str(folder / f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines kept as ``\\n``) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


#: A number as users write one in a CSV file or an option: ASCII decimal digits with an
#: optional sign, point and exponent (``nan``/``inf`` are matched so that they are refused as
#: not finite). Python's float() also takes ``1_0`` (10.0) and non-ASCII digits (``'١'``, 1.0).
DECIMAL_RE = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                        r"|(?i:nan|inf|infinity))")


def parse_decimal(text: str):
    """The float written as ``text`` (see :data:`DECIMAL_RE`), or None if it is not one."""
    if DECIMAL_RE.fullmatch(text) is None:
        return None
    return float(text)


_parse_float = parse_decimal


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
        NaN or infinite value, a file without data rows; a file that is missing, not a
        regular file, larger than :data:`MAX_TEXT_BYTES`, not UTF-8 or with more than
        :data:`MAX_CSV_ROWS` data rows.
    """
    source = str(path)
    expected = f"{width} value{'s' if width != 1 else ''} per row"
    if names:
        expected += f" ({', '.join(names)})"
    raw = read_bounded(path, MAX_TEXT_BYTES, InputDataError, "CSV file",
                       missing="No such file or directory")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputDataError(f"not a UTF-8 text file ({error.reason} at byte {error.start})",
                             source) from None
    rows: list[list[float]] = []
    header_allowed = True
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        for fields in reader:
            line = reader.line_num
            fields = [field.strip() for field in fields]
            if not any(fields) or fields[0].startswith("#"):
                continue
            parsed = [_parse_float(field) for field in fields[:width + 1]]
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
                    raise InputDataError(f"column {column}: {quote(field)} is not a number",
                                         source, line)
                if not math.isfinite(value):
                    raise InputDataError(f"column {column}: {quote(field)} is not a finite "
                                         "number", source, line)
            if len(rows) == MAX_CSV_ROWS:
                raise InputDataError(f"more than {MAX_CSV_ROWS} data rows (the limit)",
                                     source, line)
            rows.append(parsed)
    except csv.Error as error:
        raise InputDataError(f"malformed CSV: {quote(error, 120)}", source) from None
    if not rows:
        raise InputDataError(f"no data rows (expected {expected})", source)
    return np.asarray(rows, dtype=float).reshape(len(rows), width)

