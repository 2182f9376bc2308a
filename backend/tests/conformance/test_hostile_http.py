"""Hostile input over a real socket, to the real server process (uvicorn in front of the
app), for what only the HTTP server sees: declared lengths that lie, bytes that are not
text in headers, and what the server itself adds to answers (banner, log lines).

The server runs with an API key, as a public deployment would.
"""

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import problem, todos_url
from tests.processes import command_env, todo_api_server

API_KEY = "conformance-key-0123456789"
AUTH = f"X-API-Key: {API_KEY}\r\n"
MB = 1024 * 1024


@dataclass
class Server:
    base_url: str
    log: Path

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.base_url.removeprefix("http://").split(":")
        return host, int(port)


@pytest.fixture(scope="module")
def server(
    app_server_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = command_env(**app_server_settings, API_KEY=API_KEY, LOG_LEVEL="INFO")
    with todo_api_server("serve", env, tmp_path_factory.mktemp("server")) as (base_url, log):
        yield Server(base_url, log)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Reader:
    """Reads HTTP/1.1 answers with a Content-Length from a socket."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.connection.recv(65536)
        self.buffer += data
        return bool(data)

    def answer(self) -> Answer:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed; got {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            assert self._fill(), "connection closed inside a body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Answer(int(status_line.split(" ")[1]), headers, body)

    def rest(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        try:
            while self._fill():
                pass
        except ConnectionResetError:
            pass
        return self.buffer


def connect(server: Server) -> tuple[socket.socket, Reader]:
    connection = socket.create_connection(server.address, timeout=10)
    return connection, Reader(connection)


def test_answers_carry_the_security_headers_and_no_server_banner(server: Server) -> None:
    response = httpx.get(f"{server.base_url}{todos_url('alice')}", headers={"X-API-Key": API_KEY})

    assert response.status_code == 200
    assert "server" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_without_the_key_an_api_request_is_a_401_and_health_stays_open(server: Server) -> None:
    refused = httpx.get(f"{server.base_url}{todos_url('alice')}")
    wrong = httpx.get(
        f"{server.base_url}{todos_url('alice')}", headers={"Authorization": "Bearer nope"}
    )
    health = httpx.get(f"{server.base_url}/health")
    docs = httpx.get(f"{server.base_url}/docs")

    for response in (refused, wrong):
        assert response.status_code == 401
        assert response.json()["error_code"] == "UNAUTHORIZED"
        assert response.headers["www-authenticate"] == "Bearer"
    assert health.status_code == 200
    assert docs.status_code == 200


def test_a_declared_10_mb_body_is_refused_before_it_is_sent(server: Server) -> None:
    connection, reader = connect(server)
    with connection:
        connection.sendall(
            f"POST {todos_url('alice')} HTTP/1.1\r\nHost: x\r\n{AUTH}"
            f"Content-Type: application/json\r\nContent-Length: {10 * MB}\r\n\r\n".encode()
            + b"x" * 1024
        )
        answer = reader.answer()  # while 10 MB minus 1 KiB are still unsent

    assert answer.status == 413
    assert answer.json() == problem(413, "PAYLOAD_TOO_LARGE", "The body is larger than 64 KiB.")


def test_a_body_longer_than_its_content_length_is_cut_at_the_declared_length(
    server: Server,
) -> None:
    """The server takes exactly the declared 10 bytes as the body (not valid JSON: the
    app's 422) and the rest as the next request, which is not HTTP: uvicorn answers 400 and
    closes the connection (depending on timing, before the 422 is written). Nothing is
    stored."""
    body = b'{"title": "smuggled", "description": "' + b"x" * 100_000 + b'"}'
    connection, reader = connect(server)
    with connection:
        connection.sendall(
            f"POST {todos_url('cut')} HTTP/1.1\r\nHost: x\r\n{AUTH}"
            "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n".encode()
            + body
        )
        reader.rest()
    answers = []
    while reader.buffer:
        answers.append(reader.answer())

    assert answers
    assert all(answer.status in (400, 422) for answer in answers), answers
    for answer in answers:
        if answer.status == 422:
            assert answer.json()["field_errors"][0]["field"] == "body"
    assert answers[-1].headers.get("connection") == "close" or answers[-1].status == 422
    listed = httpx.get(f"{server.base_url}{todos_url('cut')}", headers={"X-API-Key": API_KEY})
    assert listed.json()["count"] == 0


def test_a_chunked_10_mb_body_is_refused_once_it_passes_64_kib(server: Server) -> None:
    connection, reader = connect(server)
    chunk = b" " * 16384
    with connection:
        connection.sendall(
            f"POST {todos_url('alice')} HTTP/1.1\r\nHost: x\r\n{AUTH}"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        for _ in range(8):  # 128 KiB of the 10 MB; the answer must already be there
            connection.sendall(b"4000\r\n" + chunk + b"\r\n")
        answer = reader.answer()

    assert answer.status == 413
    assert answer.json() == problem(413, "PAYLOAD_TOO_LARGE", "The body is larger than 64 KiB.")


def test_header_bytes_that_are_not_text_do_not_break_the_answer(server: Server) -> None:
    connection, reader = connect(server)
    with connection:
        connection.sendall(
            f"GET {todos_url('alice')} HTTP/1.1\r\nHost: x\r\n{AUTH}".encode()
            + b"X-Request-ID: \xff\xfe\x80\r\nX-Other: caf\xe9\r\n\r\n"
        )
        answer = reader.answer()

    assert answer.status == 200
    assert len(answer.headers["x-request-id"]) == 32


def test_each_request_is_logged_once_without_values_credentials_or_bodies(
    server: Server,
) -> None:
    secrets = ("QUERYSECRET", "BODYSECRET", "user-secret-id", API_KEY)
    response = httpx.post(
        f"{server.base_url}{todos_url('user-secret-id')}",
        params={"q": "QUERYSECRET"},
        json={"title": "BODYSECRET"},
        headers={"Authorization": f"Bearer {API_KEY}", "X-Request-ID": "log-check-1"},
    )
    assert response.status_code == 201
    httpx.get(f"{server.base_url}{todos_url('x')}", headers={"X-Request-ID": "log-check-2"})

    lines = server.log.read_text().splitlines()
    logged = [line for line in lines if "request_id=log-check-" in line]
    assert len(logged) == 2, lines
    created, refused = logged
    assert "method=POST route=/api/v1/users/{user_id}/todos status=201" in created
    assert "duration_ms=" in created
    # Refused before routing, so no route is named.
    assert "method=GET route=- status=401" in refused
    for secret in secrets:
        assert secret not in server.log.read_text()
