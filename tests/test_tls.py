"""Optional TLS on both front doors, with a self-signed certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import aiohttp
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clients.oi_client import OpenInterestClient
from server.app import App
from server.config import Config, parse_config


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_tls_on_grpc_and_rest(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    app = App(
        Config(
            grpc_port=0,
            http_port=0,
            sources=("okx",),
            simulate=True,
            poll_interval_s=1,
            tls_cert=cert,
            tls_key=key,
        )
    )
    await app.start()
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"https://localhost:{app.http_port}/v1/open-interest", ssl=trust
            ) as response:
                assert response.status == 200 and (await response.json())["status"] == "ok"
            with pytest.raises(aiohttp.ClientError):  # plain HTTP on the TLS port is refused
                async with session.get(f"http://127.0.0.1:{app.http_port}/v1/open-interest") as plain:
                    await plain.read()
            with pytest.raises(aiohttp.ClientConnectorCertificateError):  # an untrusted cert is refused
                async with session.get(f"https://localhost:{app.http_port}/v1/open-interest") as untrusted:
                    await untrusted.read()

        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with OpenInterestClient(f"localhost:{app.grpc_port}", credentials=credentials) as client:
            snapshot = await client.get()
            assert snapshot.timestamp > 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary("/openinterest.v1.OpenInterestService/GetOpenInterest")(
                    b"", timeout=2
                )
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await app.stop()


def test_tls_flags_go_together(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = parse_config(["--tls-cert", str(cert), "--tls-key", str(key)])
    assert config.tls_cert == cert and config.tls_key == key
    with pytest.raises(SystemExit):
        parse_config(["--tls-cert", str(cert)])
    with pytest.raises(SystemExit):
        parse_config(["--tls-cert", str(cert), "--tls-key", str(tmp_path / "missing.pem")])


def test_listens_on_loopback_by_default() -> None:
    assert parse_config([]).host == "127.0.0.1"
