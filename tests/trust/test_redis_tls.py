"""Redis over TLS with a password (``rediss://``): a real worker takes a job through a TLS broker and
result backend, paysync's own Redis client speaks TLS too, and an unverified certificate is refused."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from paysync_dev.devstack import ROOT, free_port

pytestmark = pytest.mark.e2e
PASSWORD = "tls-test-password"


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate for localhost / 127.0.0.1 it signed: (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "paysync test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (_pem(folder / "ca.pem", ca.public_bytes(pem)), _pem(folder / "redis.pem", cert.public_bytes(pem)),
            _pem(folder / "redis.key", key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                                         serialization.NoEncryption())))


def run(script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=120)


def test_a_worker_runs_a_job_through_redis_over_tls_with_a_password(db, tmp_path, worker_factory):
    ca, cert, key = certificates(tmp_path)
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", "0", "--tls-port", str(port),
                               "--bind", "127.0.0.1", "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                               "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no", "--requirepass", PASSWORD,
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        tls = redis.Redis(host="127.0.0.1", port=port, password=PASSWORD, ssl=True, ssl_ca_certs=str(ca))
        for _ in range(100):
            try:
                tls.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        url = f"rediss://:{PASSWORD}@localhost:{port}/0"
        env = {"REDIS_URL": url, "PAYSYNC_REDIS_CA_FILE": str(ca)}
        # given a worker on the TLS Redis
        worker_factory.start(queues="user", concurrency=1, **env)
        # when a paysync process sends a job there and waits for its result
        sent = run("from tasks.routing import enqueue\n"
                   "print(enqueue('paysync.smoke_user', {'token': 'tls'}).get(timeout=60)['runs'])", **env)
        # then the job ran (its Redis counter written by paysync's own client, over TLS too)
        assert sent.returncode == 0, sent.stderr[-2000:]
        assert sent.stdout.strip().splitlines()[-1] == "1"
        assert tls.get("paysync:smoke:tls") == b"1"
        # and without the CA the server's certificate is not trusted: paysync's client refuses it
        refused = run("from paysync.redis_client import redis_client\nredis_client().ping()", REDIS_URL=url,
                      PAYSYNC_REDIS_CA_FILE="")
        assert refused.returncode != 0 and "certificate verify failed" in refused.stderr
    finally:
        server.terminate()
        server.wait(10)
