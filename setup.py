"""setuptools hook: install ``gpbackup_s3_plugin`` as the native client where it can be compiled.

Everything else about the package is in setup.cfg.  ``scripts/gpbackup_s3_plugin_python``
(the Python launcher) is always installed; ``gpbackup_s3_plugin`` is the native
client compiled here (gps3async/native/build.py), or a copy of the Python
launcher where no C compiler is found, and the build says which in one line.
``GPS3ASYNC_NATIVE=off`` skips the compile (a pure-Python wheel, as ``make
wheels`` wants: the deploy bundle compiles its own client for its glibc floor).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools import Distribution, setup

# After setuptools: on Python 3.12+ only its own copy of distutils provides this.
from distutils.command.build_scripts import build_scripts  # isort: skip

HERE = Path(__file__).resolve().parent
NATIVE = os.environ.get("GPS3ASYNC_NATIVE", "on").lower() not in ("off", "0", "no", "false")


class PluginDistribution(Distribution):
    def has_ext_modules(self) -> bool:
        # A wheel holding a compiled client is for this platform and interpreter (its sys.version is built in).
        return NATIVE


class BuildScriptsWithNativeClient(build_scripts):
    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(HERE))
        try:
            from gps3async.native.build import PYTHON_CLIENT, NativeBuildError, compile_client
        finally:
            sys.path.remove(str(HERE))
        launcher = Path(self.build_dir) / PYTHON_CLIENT
        plugin = Path(self.build_dir) / "gpbackup_s3_plugin"
        if not NATIVE:
            shutil.copy2(launcher, plugin)
            return
        try:
            compile_client(plugin, python_version=sys.version)
        except NativeBuildError as err:
            shutil.copy2(launcher, plugin)
            sys.stderr.write(f"gps3async: gpbackup_s3_plugin is the Python client: {err}\n")
        else:
            sys.stderr.write("gps3async: gpbackup_s3_plugin is the native client\n")


setup(distclass=PluginDistribution, cmdclass={"build_scripts": BuildScriptsWithNativeClient})
