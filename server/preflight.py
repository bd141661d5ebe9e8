"""Start-up checks that name what is wrong, before anything starts: TLS files and listen addresses.

gRPC core reports a bad certificate or a busy port as "Failed to bind to address" (with the cause
in a separate C-level log line), and asyncio skips an address that is not on this machine without
a word. Each check here fails with ``StartupError``, whose text is the one line the user reads
(``cannot start: <text>``): which flag, which value, what is wrong with it.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final

LISTEN_BACKLOG: Final = 128  # aiohttp's default
_BIND_REASONS: Final = {
    errno.EADDRINUSE: "is already in use",
    errno.EACCES: "needs privileges (ports below 1024)",
}


class StartupError(Exception):
    """The service cannot start; ``str()`` is one line naming the flag, the value and the reason."""


def host_port(host: str, port: int) -> str:
    """``host:port`` as gRPC targets and people write it: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- TLS ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """A checked certificate chain and key: the bytes for gRPC, a context for the REST side."""

    cert_pem: bytes
    key_pem: bytes
    context: ssl.SSLContext


class _EncryptedKey(Exception):
    pass


def _no_password() -> bytes:
    # without a callback OpenSSL would prompt for a pass phrase on the terminal
    raise _EncryptedKey


def load_tls(cert: Path, key: Path) -> TlsMaterial:
    """Read and check ``--tls-cert`` and ``--tls-key`` the way the server will use them."""
    cert_pem = _read(cert, "--tls-cert")
    key_pem = _read(key, "--tls-key")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=cert_pem.decode("latin-1"))
    except ssl.SSLError:
        raise StartupError(f"--tls-cert {cert}: not a PEM certificate chain") from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except _EncryptedKey:
        raise StartupError(f"--tls-key {key}: the key is encrypted; give it unencrypted") from None
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise StartupError(f"--tls-key {key}: does not match the certificate in {cert}") from None
        raise StartupError(f"--tls-key {key}: not a PEM private key") from None
    except OSError as error:
        raise StartupError(f"--tls-cert {cert}: {error.strerror or error}") from None
    return TlsMaterial(cert_pem, key_pem, context)


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise StartupError(f"{flag} {path}: cannot read it ({error.strerror or error})") from None


# --- listen addresses --------------------------------------------------------------------------


def resolve(
    host: str, port: int, *, flag: str = "--host"
) -> list[tuple[socket.AddressFamily, tuple[str, int]]]:
    """Every distinct address ``host`` names for listening on ``port``, in resolver order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        reason = error.strerror if isinstance(error, socket.gaierror) else str(error)
        raise StartupError(f"{flag} {host}: cannot resolve it ({reason})") from None
    found: dict[tuple[socket.AddressFamily, tuple[str, int]], None] = {}
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            found[(family, (str(sockaddr[0]), int(sockaddr[1])))] = None
    return list(found)


def bind(
    host: str, port: int, *, what: str, port_flag: str, host_flag: str = "--host"
) -> list[socket.socket]:
    """Listening sockets on every address of ``host`` on ``port`` (0: one free port shared by all).

    Addresses this machine does not have are skipped as asyncio and gRPC skip them (``localhost``
    may name an IPv6 loopback that is switched off); none left is an error. An IPv6 socket also
    takes IPv4 where the system allows it, so ``--host ::`` means every address, as in gRPC.
    """
    sockets: list[socket.socket] = []
    missing: OSError | None = None
    try:
        for family, (address, _) in resolve(host, port, flag=host_flag):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            shared_port = port or (int(sockets[0].getsockname()[1]) if len(sockets) > 1 else 0)
            try:
                sock.bind((address, shared_port))
                sock.listen(LISTEN_BACKLOG)  # held: with SO_REUSEADDR a bound-only port is not taken
            except OSError as error:
                if error.errno != errno.EADDRNOTAVAIL:
                    reason = _BIND_REASONS.get(error.errno or 0, f"cannot be bound ({error.strerror})")
                    raise StartupError(
                        f"{what} port {host_port(host, port)} ({port_flag}) {reason}"
                    ) from None
                missing = error
                sockets.pop().close()
        if not sockets:
            reason = (missing.strerror if missing else None) or "no IPv4 or IPv6 address"
            raise StartupError(f"{host_flag} {host}: not an address of this machine ({reason})")
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def check_bindable(host: str, port: int, *, what: str, port_flag: str) -> None:
    """Fail now, with a clear line, where a server that binds by itself (gRPC) would fail later."""
    for sock in bind(host, port, what=what, port_flag=port_flag):
        sock.close()
