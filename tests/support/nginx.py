"""A real nginx (Debian's package) in front of a test daphne, running deploy/nginx.conf.

The sample site is used as written, with only what a test machine must change
swapped in: loopback ports instead of 80/443, a self-signed certificate, the
static root, and (for the heartbeat test) a short ``proxy_read_timeout``. Each
swap must match exactly where the sample says it does, so a change to the
sample that a test no longer covers fails loudly here.

nginx runs in the foreground (``daemon off``) with its pid file, logs and
temporary files in the test's directory, and is stopped with the fixture.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.daphne import ROOT, STARTUP_TIMEOUT_S, free_port
from tests.support.services import REQUIRE_SERVICES

SAMPLE = ROOT / "deploy" / "nginx.conf"
DEBIAN_NGINX = "/usr/sbin/nginx"
SAMPLE_STATIC_ROOT = "/srv/spool/staticfiles/"
SAMPLE_UPSTREAM = "server 127.0.0.1:8000;"
SAMPLE_READ_TIMEOUT = "proxy_read_timeout 1h;"


def nginx_binary() -> str:
    """Path of nginx, or skip (fail under SPOOL_REQUIRE_SERVICES=1) when it is missing."""
    found = shutil.which("nginx")
    if found:
        return found
    if os.access(DEBIAN_NGINX, os.X_OK):  # /usr/sbin is not on every user's PATH
        return DEBIAN_NGINX
    reason = "nginx is not installed (make test installs Debian's package)"
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} and SPOOL_REQUIRE_SERVICES=1")
    pytest.skip(reason)


@dataclass
class NginxServer:
    https_url: str
    http_url: str
    cert_path: Path
    error_log: Path
    process: subprocess.Popen[bytes]

    def errors(self) -> str:
        return self.error_log.read_text(errors="replace")


def site_config(
    *, upstream_port: int, http_port: int, https_port: int, cert: Path, key: Path,
    static_root: Path, read_timeout: str,
) -> str:  # fmt: skip
    """deploy/nginx.conf with the test machine's ports, certificate and paths."""
    text = SAMPLE.read_text()
    swaps: list[tuple[str, str, int]] = [
        (re.escape(SAMPLE_UPSTREAM), f"server 127.0.0.1:{upstream_port};", 1),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};", 1),
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", 1),
        (r"listen \[::\]:\d+[^;]*;", "", 2),  # no IPv6 listeners on a test machine
        (r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", 1),
        (r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", 1),
        (re.escape(SAMPLE_STATIC_ROOT), f"{static_root}/", 2),
        (re.escape(SAMPLE_READ_TIMEOUT), f"proxy_read_timeout {read_timeout};", 1),
    ]
    for pattern, replacement, expected in swaps:
        text, count = re.subn(pattern, replacement, text)
        assert count == expected, f"deploy/nginx.conf: {pattern!r} found {count}x, not {expected}x"
    return text


def main_config(tmp: Path, site: str) -> str:
    """The top-level nginx.conf a Debian install has, pointed at ``tmp``."""
    # As root, nginx's workers would switch to "nobody", which cannot read the
    # test's private temporary directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {tmp / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {tmp / "access.log"};
{temp}
{site}
}}
"""


def self_signed_certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def run_nginx(
    tmp: Path, *, upstream_port: int, static_root: Path, read_timeout: str = "1h"
) -> Iterator[NginxServer]:
    binary = nginx_binary()
    tmp.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(tmp)
    http_port, https_port = free_port(), free_port()
    site = site_config(
        upstream_port=upstream_port, http_port=http_port, https_port=https_port,
        cert=cert, key=key, static_root=static_root, read_timeout=read_timeout,
    )  # fmt: skip
    conf = tmp / "nginx.conf"
    conf.write_text(main_config(tmp, site))
    error_log = tmp / "error.log"
    command = [binary, "-p", str(tmp), "-e", str(error_log), "-c", str(conf)]
    subprocess.run([*command, "-t", "-q"], check=True, capture_output=True)
    process = subprocess.Popen(
        [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    server = NginxServer(
        f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", cert, error_log, process
    )
    try:
        _wait_ready((http_port, https_port), process, error_log)
        yield server
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(ports: tuple[int, ...], process: subprocess.Popen[bytes], error_log: Path) -> None:
    """Until nginx accepts connections on every port (its pid file comes earlier)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    waiting = list(ports)
    while waiting:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited early:\n{error_log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nginx did not listen within {STARTUP_TIMEOUT_S} s")
        try:
            with socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.5):
                waiting.pop(0)
        except OSError:
            time.sleep(0.05)
