"""Safe file writes and reads: only regular files are replaced, atomically.

A save writes a hidden temp file in the target's directory, fsyncs it and renames it over the
target (``os.replace``), so a reader sees the old file or the new one, never half of one. What
is at the path decides what happens:

- nothing, or a regular file: replaced atomically. A new file gets the process umask
  (``0o666 & ~umask``, as ``open(path, "w")`` would); a replaced file keeps its permission bits
  and, where the process may set them, its owner and group.
- a symlink (or a chain of them): the file it points to is replaced atomically, the link stays
  (as editors do); a link to anything but a regular file is refused like that thing.
- a directory, FIFO, character or block device, socket: refused, nothing is touched.

Every error names the path the user gave, never the hidden temp file. A save killed before its
rename leaves its temp file ``.<name>.<pid>.<16 hex>.rnnlab-tmp``; the next save of the same
path removes such files when the process that wrote them is gone (regular files only).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import threading
from typing import BinaryIO

__all__ = ["atomic_write_bytes", "open_regular"]

_SUFFIX = ".rnnlab-tmp"
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_in_progress: set[str] = set()  # temp files this process is writing now (any thread)
_in_progress_lock = threading.Lock()


def _kind(mode: int) -> str | None:
    """None for a regular file, else a phrase naming what the path is."""
    if stat.S_ISREG(mode):
        return None
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _refuse(user_path: str, mode: int, action: str) -> None:
    what = _kind(mode)
    if what is None:
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(
            errno.EISDIR, f"Is a directory: cannot {action}; give a file path", user_path
        )
    raise ValueError(
        f"{user_path}: is {what}, not a regular file; rnnlab {action}s regular files only "
        "(choose another path)"
    )


def _renamed(exc: OSError, user_path: str) -> OSError:
    """The same error (same class and errno) naming the user's path instead of a temp file."""
    if exc.errno is None:
        return OSError(f"{user_path}: {exc}")
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), user_path)


def _target(user_path: str) -> tuple[str, os.stat_result | None]:
    """The file a save replaces (symlinks followed) and its stat, or None when it is new."""
    if not user_path:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", user_path)
    if user_path.endswith(("/", os.sep)):
        raise IsADirectoryError(errno.EISDIR, "Is a directory: cannot save", user_path)
    target = os.path.realpath(user_path)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return target, None
    except OSError as exc:
        raise _renamed(exc, user_path) from None
    _refuse(user_path, info.st_mode, "save")
    return target, info


def _owner_alive(name: str) -> bool:
    pid = int(name.rsplit(".", 3)[-3])
    if pid == os.getpid():
        return False  # this process: alive, but the in-progress set says what it still writes
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no process could have that id
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _remove_stale_temps(directory: str, base: str) -> None:
    """Delete the temp files a killed save of ``base`` left (only ours, only regular files)."""
    pattern = re.compile(re.escape(f".{base}.") + r"[0-9]+\.[0-9a-f]{16}" + re.escape(_SUFFIX))
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        full = os.path.join(directory, name)
        if not pattern.fullmatch(name) or _owner_alive(name):
            continue
        with _in_progress_lock:
            if full in _in_progress:
                continue
        try:
            if stat.S_ISREG(os.lstat(full).st_mode):
                os.unlink(full)
        except OSError:
            pass  # best effort: another cleaner got there first, or no permission


def _create_temp(directory: str, base: str) -> tuple[int, str]:
    while True:
        name = f".{base}.{os.getpid()}.{secrets.token_hex(8)}{_SUFFIX}"
        full = os.path.join(directory, name)
        try:
            # mode 0o666: the kernel applies the umask, as for any new file the user creates
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            return os.open(full, flags, 0o666), full
        except FileExistsError:
            continue


def _keep_owner_and_mode(tmp: str, existing: os.stat_result) -> None:
    """The replacement keeps the replaced file's permission bits and, where the process may
    set them (root, or a group it belongs to), its owner and group."""
    if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
        with contextlib.suppress(OSError):
            os.chown(tmp, existing.st_uid, existing.st_gid)
    os.chmod(tmp, stat.S_IMODE(existing.st_mode) & 0o777)


def _write_all(f, data: bytes) -> None:
    f.write(data)


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename already happened
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the regular file at ``path`` by ``data``, atomically (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike. A symlink is followed: its target is replaced, the link kept.
    data : bytes to write.

    Raises
    ------
    IsADirectoryError
        ``path`` is a directory (or ends with a separator).
    ValueError
        ``path`` is a FIFO, device or socket (or a symlink to one); it is left untouched.
    OSError
        The write failed (no directory, no permission, disk full); the message names ``path``
        and the previous file, if any, is intact.
    """
    user_path = os.fsdecode(os.fspath(path))
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data: expected bytes, got {type(data).__name__}")
    target, existing = _target(user_path)
    directory, base = os.path.split(target)
    _remove_stale_temps(directory, base)
    tmp, replaced = None, False
    try:
        fd, tmp = _create_temp(directory, base)
        with _in_progress_lock:
            _in_progress.add(tmp)
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        if existing is not None:
            _keep_owner_and_mode(tmp, existing)
        _target(user_path)  # what is at the path may have changed while we wrote
        os.replace(tmp, target)
        replaced = True
    except OSError as exc:
        raise _renamed(exc, user_path) from None
    finally:
        if tmp is not None:
            if not replaced:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            with _in_progress_lock:
                _in_progress.discard(tmp)
    _fsync_directory(directory)


def open_regular(path: str | os.PathLike[str], error: type[Exception] = ValueError) -> BinaryIO:
    """Open a regular file for reading in binary mode; anything else raises ``error``.

    Never blocks on a FIFO: the file is opened non-blocking and checked with ``fstat``.
    """
    user_path = os.fspath(path)
    fd = os.open(user_path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        what = _kind(mode)
        if what is not None:
            raise error(f"{user_path}: is {what}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
