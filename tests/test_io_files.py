"""Safe writes: only regular files are replaced, symlinks write through, umask kept, errors name
the user's path, stale temp files of a killed save are cleaned."""

import errno
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab import RNNLayer
from rnnlab.io import atomic_write_bytes
from rnnlab.io import files as rfiles

SRC = str(Path(rnnlab.__file__).resolve().parents[1])


def _layer(seed=0):
    return RNNLayer(2, 3, dtype=np.float64, seed=seed)


def _char_device(path):
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private copy of /dev/null


def _socket(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    return sock


@pytest.mark.parametrize(
    ("kind", "make", "check", "word"),
    [
        ("fifo", os.mkfifo, stat.S_ISFIFO, "FIFO"),
        ("device", _char_device, stat.S_ISCHR, "character device"),
        ("socket", _socket, stat.S_ISSOCK, "socket"),
    ],
)
def test_special_files_are_refused_and_left_alone(tmp_path, kind, make, check, word):
    path = tmp_path / f"{kind}.safetensors"
    keep = make(path)
    try:
        with pytest.raises(ValueError, match=rf"{kind}\.safetensors.*{word}.*not a regular file"):
            _layer().save(path)
        assert check(os.lstat(path).st_mode)
        assert os.listdir(tmp_path) == [path.name]  # no temp file left beside it
    finally:
        if keep is not None:
            keep.close()


def test_a_directory_is_refused(tmp_path):
    path = tmp_path / "out.safetensors"
    path.mkdir()
    (path / "inside").write_text("kept")
    with pytest.raises(IsADirectoryError, match=r"out\.safetensors"):
        rnnlab.save_checkpoint(path, _layer())
    assert (path / "inside").read_text() == "kept"
    assert sorted(os.listdir(tmp_path)) == ["out.safetensors"]


def test_a_trailing_slash_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="out"):
        atomic_write_bytes(str(tmp_path / "out") + "/", b"x")


def test_a_symlink_writes_through_to_its_target(tmp_path):
    real_dir = tmp_path / "store"
    real_dir.mkdir()
    target = real_dir / "real.safetensors"
    _layer(0).save(target)
    link = tmp_path / "link.safetensors"
    link.symlink_to(os.path.relpath(target, tmp_path))
    chain = tmp_path / "chain.safetensors"
    chain.symlink_to(link)
    new = _layer(5)
    new.save(chain)
    assert chain.is_symlink()
    assert link.is_symlink()
    np.testing.assert_array_equal(rnnlab.load(target).params["W_hh"], new.params["W_hh"])
    assert sorted(os.listdir(real_dir)) == ["real.safetensors"]
    assert sorted(os.listdir(tmp_path)) == ["chain.safetensors", "link.safetensors", "store"]


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.safetensors"
    link.symlink_to("made.safetensors")
    _layer().save(link)
    assert link.is_symlink()
    assert (tmp_path / "made.safetensors").is_file()


def test_a_symlink_to_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link").symlink_to("pipe")
    with pytest.raises(ValueError, match=r"link.*FIFO"):
        atomic_write_bytes(tmp_path / "link", b"data")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)


@pytest.mark.parametrize("umask", [0o077, 0o022, 0o002])
def test_a_new_file_gets_the_process_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        _layer().save(tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.safetensors").st_mode) == 0o666 & ~umask


def test_replacing_a_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "m.safetensors"
    _layer().save(path)
    os.chmod(path, 0o640)
    _layer(1).save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_a_failed_write_names_the_users_path_not_the_temp_file(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a regular file where a directory should be")
    path = blocker / "m.safetensors"
    with pytest.raises(NotADirectoryError, match=r"m\.safetensors") as info:
        _layer().save(path)
    assert info.value.errno == errno.ENOTDIR
    assert str(path) in str(info.value)
    assert "tmp" not in str(info.value).replace(str(tmp_path), "")
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_a_full_disk_names_the_users_path_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    _layer().save(path)
    before = path.read_bytes()

    def disk_full(f, data):
        f.write(data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rfiles, "_write_all", disk_full)
    with pytest.raises(OSError, match=r"No space left") as info:
        _layer(3).save(path)
    assert str(path) in str(info.value)
    assert ".rnnlab-tmp" not in str(info.value)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]


def test_a_missing_directory_names_the_users_path(tmp_path):
    path = tmp_path / "no" / "such" / "m.safetensors"
    with pytest.raises(FileNotFoundError, match=r"no/such/m\.safetensors"):
        _layer().save(path)


_KILLED_SAVE = """
import os, sys
import numpy as np
from rnnlab import RNNLayer
from rnnlab.io import files

def killed(f, data):
    f.write(data[: len(data) // 2])
    f.flush()
    os._exit(9)  # as a SIGKILL would: no cleanup runs

files._write_all = killed
RNNLayer(2, 3, seed=0).save(sys.argv[1])
"""


def test_the_temp_file_of_a_killed_save_is_cleaned_on_the_next_save(tmp_path):
    path = tmp_path / "m.safetensors"
    env = {**os.environ, "PYTHONPATH": SRC}
    run = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path)], env=env, timeout=60)
    assert run.returncode == 9
    leftovers = [n for n in os.listdir(tmp_path) if n != "m.safetensors"]
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".m.safetensors.")
    # look-alikes that are not this module's temp files of this path stay untouched
    (tmp_path / ".m.safetensors.backup").write_text("mine")
    (tmp_path / ".other.safetensors.1.0123456789abcdef.rnnlab-tmp").write_text("other path")
    fake_dir = tmp_path / f".m.safetensors.{os.getpid() + 10**7}.0123456789abcdef.rnnlab-tmp"
    fake_dir.mkdir()
    _layer().save(path)
    left = sorted(os.listdir(tmp_path))
    assert leftovers[0] not in left
    assert left == sorted(
        [
            ".m.safetensors.backup",
            ".other.safetensors.1.0123456789abcdef.rnnlab-tmp",
            fake_dir.name,
            "m.safetensors",
        ]
    )
    assert isinstance(rnnlab.load(path), RNNLayer)


def test_the_temp_file_of_a_running_save_is_not_removed(tmp_path, monkeypatch):
    # a save in progress (this process, another thread) keeps its temp file
    path = tmp_path / "m.safetensors"
    seen = []

    real = rfiles._write_all

    def nested(f, data):
        if data == b"outer":  # while the outer save is writing, a second save of the path
            seen.extend(os.listdir(tmp_path))
            atomic_write_bytes(tmp_path / "m.safetensors", b"inner")
            seen.extend(os.listdir(tmp_path))
        real(f, data)

    monkeypatch.setattr(rfiles, "_write_all", nested)
    atomic_write_bytes(path, b"outer")
    outer_temp = [name for name in seen[:1] if name.endswith(".rnnlab-tmp")]
    assert len(seen) == 3
    assert outer_temp
    assert outer_temp[0] in seen[1:]
    assert path.read_bytes() == b"outer"


def test_every_writer_in_the_library_refuses_a_fifo(tmp_path, monkeypatch):
    from rnnlab.compare import figures, report, runner

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(ValueError, match="FIFO"):
        runner.write_json(pipe, {"a": 1})
    monkeypatch.setattr(report, "render", lambda results: "text")
    with pytest.raises(ValueError, match="FIFO"):
        report.write({}, pipe)
    plt = figures._pyplot()
    with pytest.raises(ValueError, match="FIFO"):
        figures._save(plt.figure(), tmp_path, "pipe")
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]


def test_bytes_paths_work_and_non_bytes_data_is_refused(tmp_path):
    atomic_write_bytes(os.fsencode(tmp_path / "b.bin"), b"abc")
    assert (tmp_path / "b.bin").read_bytes() == b"abc"
    with pytest.raises(TypeError, match="data: expected bytes, got str"):
        atomic_write_bytes(tmp_path / "s.bin", "text")
    assert sorted(os.listdir(tmp_path)) == ["b.bin"]


def test_a_temp_name_with_an_impossible_process_id_is_stale(tmp_path):
    stale = tmp_path / f".m.bin.{10**30}.0123456789abcdef.rnnlab-tmp"
    stale.write_bytes(b"left by nobody")
    atomic_write_bytes(tmp_path / "m.bin", b"new")
    assert sorted(os.listdir(tmp_path)) == ["m.bin"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_names_the_users_path(tmp_path):
    # as root this is meaningless; test_a_failed_write_names_the_users_path_not_the_temp_file
    # makes the same write fail another way, and runs everywhere
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=r"locked/m\.safetensors"):
            _layer().save(locked / "m.safetensors")
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_replacing_a_file_keeps_its_owner(tmp_path):
    path = tmp_path / "m.safetensors"
    _layer().save(path)
    os.chown(path, 1234, 5678)
    _layer(1).save(path)
    info = os.stat(path)
    assert (info.st_uid, info.st_gid) == (1234, 5678)
