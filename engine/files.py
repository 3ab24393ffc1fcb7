"""Files a person names: read only when regular and small enough, written without following a link.

An input is opened without blocking (a FIFO would wait for a writer), checked with fstat to be a
regular file within its size limit, and read with a bound: /dev/zero, a FIFO, a folder or a sparse
10 GB file are refused in one line before anything is read. An output is written to a temporary file
in the same folder (O_EXCL | O_NOFOLLOW) and moved over the target with os.replace, so a symbolic link
at the target is never followed; a target that is a link is refused, and an existing file is replaced
only when the caller says so (`--force`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from i18n import _

from .errors import OpsqaError

MAX_INPUT_BYTES = 20 * 1024 * 1024  # a diagram, a table, a scenario, a task's data: far below this


def read_bounded(path: str | os.PathLike, limit: int = MAX_INPUT_BYTES, *, too_large: str = "") -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or a one-line refusal naming the file.
    `too_large`: the refusal of a file over the limit, translated, with {path}, {size} and {limit}."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise OpsqaError(_("cannot read {path!r}: {exc}").format(
                             path=name, exc=getattr(exc, "strerror", None) or exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OpsqaError(_("cannot read {path}: it is not a regular file").format(path=name))
        if info.st_size > limit:
            raise OpsqaError((too_large or _("{path} is {size} bytes; files read are at most {limit}")).format(
                                 path=name, size=info.st_size, limit=limit))
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise OpsqaError(_("cannot read {path!r}: {exc}").format(path=name, exc=exc.strerror or exc)) from None
    finally:
        os.close(fd)
    content = b"".join(chunks)
    if len(content) > limit:  # it grew while being read
        raise OpsqaError((too_large or _("{path} is {size} bytes; files read are at most {limit}")).format(
                             path=name, size=len(content), limit=limit))
    return content


def read_text_bounded(path: str | os.PathLike, limit: int = MAX_INPUT_BYTES) -> str:
    """A UTF-8 file read as `read_bounded` reads it."""
    try:
        return read_bounded(path, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise OpsqaError(_("cannot read {path}: it is not UTF-8 text").format(path=path)) from None


def check_output(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Refuse an output target that is a symbolic link, not a regular file, or exists without `force`."""
    target = Path(path)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return target
    except (OSError, ValueError) as exc:
        raise OpsqaError(_("cannot write {path}: {strerror}").format(
                             path=path, strerror=getattr(exc, "strerror", None) or exc)) from None
    if stat.S_ISLNK(info.st_mode):
        raise OpsqaError(_("{path} is a symbolic link; opsqa does not write through one").format(path=path))
    if not stat.S_ISREG(info.st_mode):
        raise OpsqaError(_("cannot write {path}: it is not a regular file").format(path=path))
    if not force:
        raise OpsqaError(_("{path} exists; use --force to replace it").format(path=path))
    return target


def write_output(path: str | os.PathLike, content: bytes | str, *, force: bool = False, mode: int = 0o666,
                 checked: bool = False) -> Path:
    """Write `content` to `path` via a temporary file in the same folder, never through a link; an
    existing file is replaced only with `force` (`checked`: the caller already ran `check_output`).
    `mode` is applied before the umask, except that a private mode (0o660) is applied exactly."""
    target = Path(path) if checked else check_output(path, force=force)
    data = content.encode("utf-8") if isinstance(content, str) else content
    folder = target.parent
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for attempt in range(100):
        temporary = folder / f".{target.name}.{os.getpid()}.{attempt}.tmp"
        try:
            fd = os.open(temporary, flags, mode)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise OpsqaError(_("cannot write {path}: {strerror}").format(
                                 path=path, strerror=exc.strerror or exc)) from None
    else:
        raise OpsqaError(_("cannot write {path}: {strerror}").format(path=path, strerror="no temporary name"))
    try:
        try:
            if mode & 0o007 == 0:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        if not force and (os.path.lexists(target)):  # appeared meanwhile
            raise OpsqaError(_("{path} exists; use --force to replace it").format(path=path))
        os.replace(temporary, target)
    except OSError as exc:
        raise OpsqaError(_("cannot write {path}: {strerror}").format(path=path, strerror=exc.strerror or exc)) from None
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
    return target
