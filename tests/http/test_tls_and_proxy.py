"""The HTTP layer end to end over TLS and through a proxy: real plugin processes, real rclone servers.

TLS: rclone serves HTTPS with a certificate from a throw-away CA; the plugin
trusts it through ``AWS_CA_BUNDLE``, botocore's standard variable for a CA
bundle, and refuses it without.  Proxy: a forward proxy on 127.0.0.1 sees
every request, absolute-form for a plain-HTTP endpoint, a ``CONNECT`` tunnel
for an HTTPS one.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from tests.conftest import BUCKET, Plugin, write_config
from tests.http.certs import ThrowawayPki, make_pki
from tests.http.forward_proxy import ForwardProxy
from tests.s3server import S3Server, make_client, start_rclone

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MIB = 1024 * 1024
DATA = os.urandom(12 * MIB + 12345)  # three 5 MiB parts: a multipart upload and several ranged GETs


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayPki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, pki: ThrowawayPki) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("s3root-tls")
    server = start_rclone(root, log_path=root.parent / "rclone-tls.log", tls=(pki.server_cert, pki.server_key))
    try:
        make_client(server.endpoint, verify=str(pki.ca_bundle)).create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()


def _env(plugin: Plugin, **extra: str) -> dict[str, str]:
    """The plugin's environment with no proxy or CA settings of the machine's own, plus ``extra``."""
    ignored = {"AWS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}
    return {**{k: v for k, v in plugin.env().items() if k not in ignored}, **extra}


def _run(
    plugin: Plugin, verb: str, config: Path, env: dict[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    argv = plugin.argv(verb, str(plugin.backup_dir() / "gpbackup_0_20261126101500_7"), config=config)
    return subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=120, check=False)


def _round_trip(plugin: Plugin, config: Path, env: dict[str, str]) -> None:
    stored = _run(plugin, "backup_data", config, env, DATA)
    assert stored.returncode == 0, stored.stderr
    restored = _run(plugin, "restore_data", config, env)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout == DATA
    assert restored.stderr == b""


def test_tls_round_trip_trusting_a_ca_bundle(
    plugin: Plugin, tls_server: S3Server, pki: ThrowawayPki, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "tls.yaml", tls_server.endpoint, plugin.folder)
    _round_trip(plugin, config, _env(plugin, AWS_CA_BUNDLE=str(pki.ca_bundle)))


def test_tls_refuses_a_server_it_does_not_trust(plugin: Plugin, tls_server: S3Server, tmp_path: Path) -> None:
    config = write_config(tmp_path / "tls.yaml", tls_server.endpoint, plugin.folder, max_attempts=1)
    started = time.monotonic()
    result = _run(plugin, "backup_data", config, _env(plugin), b"never sent")
    assert result.returncode != 0
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "SSL validation failed" in lines[0], lines
    assert time.monotonic() - started < 30


def test_plain_http_through_a_proxy(plugin: Plugin, s3_server: S3Server, tmp_path: Path) -> None:
    with ForwardProxy() as proxy:
        config = write_config(tmp_path / "proxy.yaml", s3_server.endpoint, plugin.folder, http_proxy=proxy.url)
        _round_trip(plugin, config, _env(plugin))
    origin = f"http://127.0.0.1:{s3_server.port}/"
    assert len(proxy.request_lines) >= 6, "create, three parts, complete, digest, GETs"
    assert all(line.split(" ", 1)[1].startswith(origin) for line in proxy.request_lines), proxy.request_lines


def test_https_through_a_proxy_tunnel(plugin: Plugin, tls_server: S3Server, pki: ThrowawayPki, tmp_path: Path) -> None:
    with ForwardProxy() as proxy:
        config = write_config(tmp_path / "proxy.yaml", tls_server.endpoint, plugin.folder, http_proxy=proxy.url)
        _round_trip(plugin, config, _env(plugin, AWS_CA_BUNDLE=str(pki.ca_bundle)))
    assert proxy.request_lines, "the proxy saw the tunnels"
    assert set(proxy.request_lines) == {f"CONNECT 127.0.0.1:{tls_server.port}"}
