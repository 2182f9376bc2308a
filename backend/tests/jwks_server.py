"""A real identity provider's key endpoint for the JWT tests: signing keys generated with
`cryptography`, and a JWKS served over HTTP on 127.0.0.1 from a thread.

The server counts the requests it answers, and can be switched to answer 500, to hang
(until released or stopped), or stopped for good (connections are then refused), so a
test can see what the API does while its provider misbehaves."""

import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

JWKS_PATH = "/.well-known/jwks.json"
Behaviour = Literal["serve", "fail", "hang"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class SigningKey:
    """A private key, its `kid` and algorithm; `jwk` is the public half as a JWKS lists it."""

    kid: str
    algorithm: str
    private_key: PrivateKey

    @property
    def jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            data = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def sign(self, claims: Mapping[str, Any], **header: Any) -> str:
        return jwt.encode(
            dict(claims),
            self.private_key,
            algorithm=self.algorithm,
            headers={"kid": self.kid, **header},
        )


def new_key(algorithm: str = "RS256", kid: str | None = None) -> SigningKey:
    """A fresh key pair: RSA 2048 for RS256, P-256 for ES256, Ed25519 for EdDSA."""
    private_key: PrivateKey
    if algorithm == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "EdDSA":
        private_key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(algorithm)
    return SigningKey(kid or os.urandom(8).hex(), algorithm, private_key)


@dataclass
class JwksServer:
    """The JWKS of `keys` at `url` (or the bytes of `raw`, when set); `requests` counts the
    requests made to it."""

    keys: list[SigningKey] = field(default_factory=list)
    raw: bytes | None = None
    behaviour: Behaviour = "serve"
    requests: int = 0
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{JWKS_PATH}"

    def document(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps({"keys": [key.jwk for key in self.keys]}).encode()

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._count()
                if server.behaviour == "hang":
                    server._released.wait(timeout=60)
                    return
                if server.behaviour == "fail" or self.path != JWKS_PATH:
                    self.send_response(500 if server.behaviour == "fail" else 404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.document()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.block_on_close = False  # a hanging handler must not hold up stop()
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Gone for good: the port is closed and connections to it are refused."""
        self._released.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


@contextmanager
def jwks_server(*keys: SigningKey) -> Iterator[JwksServer]:
    server = JwksServer(list(keys))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def claims(user: str = "alice", *, lifetime: float = 300, **extra: Any) -> dict[str, Any]:
    """A token's claims for `user`, valid from now for `lifetime` seconds."""
    now = int(time.time())
    return {"sub": user, "iat": now, "exp": now + int(lifetime), **extra}
