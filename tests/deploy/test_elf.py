"""The pure parts of the bundle's interpreter: ELF version-needed parsing and ldd's output, on real files.

``readelf -V`` (binutils) is the independent oracle for what each real file of
this machine needs; the parser must agree with it exactly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gps3async.deploy.elf import ElfError, GlibcVersion, glibc_floor, needed_versions, parse_glibc_version
from gps3async.deploy.sharedlibs import Dependency, parse_ldd, relative_run_path, taken_from_host
from gps3async.deploy.wheels import platform_tags


def real_elf_files() -> list[Path]:
    """The running interpreter, the C library, libssl and a compiled module: executables and libraries."""
    import _ssl

    candidates = [Path(sys.executable).resolve(), Path(_ssl.__file__), Path("/bin/sh").resolve()]
    for pattern in ("libc.so.6", "libssl.so.3", "libz.so.1"):
        candidates += sorted(Path("/lib/x86_64-linux-gnu").glob(pattern)) + sorted(Path("/usr/lib64").glob(pattern))
    return [path for path in candidates if path.is_file()]


def readelf_versions(path: Path) -> dict[str, set[str]]:
    """``readelf -V``'s version-needed section: ``File: libc.so.6  Cnt: 3`` then ``Name: GLIBC_2.34 ...``."""
    text = subprocess.run(["readelf", "-V", "--wide", str(path)], capture_output=True, text=True, check=True).stdout
    section = text.split(".gnu.version_r", 1)[1] if ".gnu.version_r" in text else ""
    needed: dict[str, set[str]] = {}
    current = ""
    for line in section.splitlines():
        file_match = re.search(r"File: (\S+)", line)
        if file_match:
            current = file_match.group(1)
            needed[current] = set()
        name_match = re.search(r"Name: (\S+)", line)
        if name_match and current:
            needed[current].add(name_match.group(1))
    return needed


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf (binutils) is the oracle")
def test_needed_versions_agree_with_readelf_on_real_files() -> None:
    files = real_elf_files()
    assert len(files) >= 4
    floors = set()
    for path in files:
        data = path.read_bytes()
        assert needed_versions(data) == readelf_versions(path), path
        expected = [tuple(map(int, m.groups())) for v in readelf_versions(path).values() for name in v
                    for m in [re.match(r"GLIBC_(\d+)\.(\d+)", name)] if m]  # fmt: skip
        assert glibc_floor(data) == (GlibcVersion(*max(expected)) if expected else None), path
        floors.add(glibc_floor(data))
    assert any(floor is not None and floor >= (2, 17) for floor in floors)


def test_bad_bytes_are_an_elf_error_not_a_crash() -> None:
    real = Path(sys.executable).resolve().read_bytes()
    with pytest.raises(ElfError):
        needed_versions(b"#!/bin/sh\n")
    with pytest.raises(ElfError):
        needed_versions(real[:64])  # the header promises section headers past the end
    for cut in (0x40, len(real) // 2, len(real) - 1):  # the section headers sit at the end: all are cut off
        with pytest.raises(ElfError):
            needed_versions(real[:cut])


def test_glibc_versions_as_hosts_report_them() -> None:
    assert parse_glibc_version("glibc 2.17\n") == GlibcVersion(2, 17)
    assert parse_glibc_version("ldd (Debian GLIBC 2.36-9+deb12u4) 2.36\nCopyright ...") == GlibcVersion(2, 36)
    assert parse_glibc_version("2.28") == GlibcVersion(2, 28)
    assert str(GlibcVersion(2, 9)) == "2.9" and GlibcVersion(2, 9) < GlibcVersion(2, 17)
    with pytest.raises(ValueError):
        parse_glibc_version("musl libc (x86_64)")
    with pytest.raises(ValueError):
        parse_glibc_version("")


def test_ldd_output_and_what_the_host_provides() -> None:
    text = (
        "\tlinux-vdso.so.1 (0x00007ffc8a5f2000)\n"
        "\tlibpython3.11.so.1.0 => /root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0 (0x00007f2a1c000000)\n"
        "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2a1bc1f000)\n"
        "\tlibfoo.so.2 => not found\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007f2a1c6b4000)\n"
    )
    assert parse_ldd(text) == [
        Dependency("linux-vdso.so.1", None),
        Dependency("libpython3.11.so.1.0", "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"),
        Dependency("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"),
        Dependency("libfoo.so.2", None),
        Dependency("ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"),
    ]
    assert parse_ldd("\tstatically linked\n") == []
    assert [taken_from_host(d.name) for d in parse_ldd(text)] == [True, False, True, False, True]
    assert taken_from_host("libstdc++.so.6") and taken_from_host("ld-linux-aarch64.so.1")
    assert not taken_from_host("libssl.so.3") and not taken_from_host("libcrypt.so.1")
    assert relative_run_path("/b/lib/python3.11/lib-dynload", "/b/lib") == "$ORIGIN/../.."
    assert relative_run_path("/b/bin", "/b/lib") == "$ORIGIN/../lib"
    assert relative_run_path("/b/lib", "/b/lib") == "$ORIGIN"


def test_wheel_platforms_for_the_oldest_glibc() -> None:
    assert platform_tags(GlibcVersion(2, 17), "x86_64") == ["manylinux2014_x86_64", "manylinux_2_17_x86_64"]
    assert platform_tags(GlibcVersion(2, 28), "aarch64") == ["manylinux_2_28_aarch64"]
