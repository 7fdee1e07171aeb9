"""Forged files for the corpus: NPY headers, NPZ archives, zip/gzip bombs, FIFOs, sparse files.

Helpers only (no ``CASES``): the ``cases_*`` modules build their hostile files with these.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def npy(array) -> bytes:
    """The NPY bytes of an array (numpy's writer; object arrays pickled)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=True)
    return buffer.getvalue()


def npy_header(shape, descr: str = "<f8", fortran: bool = False, version=(1, 0),
               pad: int = 0) -> bytes:
    """A forged NPY header (no data after it): any shape, dtype text, padding."""
    text = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {tuple(shape)!r}, }}"
    text += " " * pad
    size_bytes = 2 if version == (1, 0) else 4
    total = 6 + 2 + size_bytes + len(text) + 1
    text += " " * ((64 - total % 64) % 64) + "\n"
    length = struct.pack("<H" if size_bytes == 2 else "<I", len(text))
    return b"\x93NUMPY" + bytes(version) + length + text.encode("latin1")


def npz(members: dict, method=zipfile.ZIP_STORED) -> bytes:
    """A zip of members: name (``.npy`` added) -> array or raw bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members.items():
            data = content if isinstance(content, bytes) else npy(content)
            archive.writestr(name if name.endswith(".npy") or "." in name else name + ".npy",
                             data)
    return buffer.getvalue()


def npz_duplicate(name: str, first, second) -> bytes:
    """A zip holding the member ``name.npy`` twice."""
    import warnings
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(name + ".npy", npy(first))
            archive.writestr(name + ".npy", npy(second))
    return buffer.getvalue()


def lie_about_size(raw: bytes, member: str, file_size: int) -> bytes:
    """Patch the uncompressed size of ``member`` in its local and central headers."""
    data = bytearray(raw)
    encoded = member.encode()
    for signature, size_offset, name_offset in ((b"PK\x03\x04", 22, 30),
                                                (b"PK\x01\x02", 24, 46)):
        start = 0
        while True:
            start = data.find(signature, start)
            if start < 0:
                break
            name_length = struct.unpack_from("<H", data, start + name_offset - 4
                                             if signature == b"PK\x03\x04" else start + 28)[0]
            name = bytes(data[start + name_offset:start + name_offset + name_length])
            if name == encoded:
                struct.pack_into("<I", data, start + size_offset, file_size)
            start += 4
    return bytes(data)


def zeros_bomb(megabytes: int = 24) -> bytes:
    """NPY bytes of a large all-zero array: deflates about 1000:1."""
    return npy(np.zeros(megabytes * 2**20 // 8))


def gzip_bomb(megabytes: int = 24) -> bytes:
    return gzip.compress(bytes(megabytes * 2**20), compresslevel=9)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def symlink_to(target: str):
    def make(path: Path) -> None:
        os.symlink(target, path)
    return make


def sparse(size: int):
    """A file of ``size`` bytes that takes no disk space (zeros)."""
    def make(path: Path) -> None:
        with open(path, "wb") as handle:
            handle.truncate(size)
    return make


def folder(path: Path) -> None:
    path.mkdir()
    (path / "keep.txt").write_text("kept\n")


def idx(dims, data: bytes | None = None, code: int = 0x08) -> bytes:
    """IDX bytes: magic, sizes, then ``data`` (default: zeros of the declared size)."""
    header = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    if data is None:
        data = bytes(int(np.prod(dims)) * {0x08: 1, 0x0D: 4, 0x0E: 8}[code])
    return header + data
