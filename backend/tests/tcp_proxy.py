"""A TCP proxy in front of PostgreSQL that behaves as Neon's does when a compute suspends
and wakes: it can refuse new connections for a while (the compute is waking up), drop
every open connection (it suspended), or refuse for good (it never comes back).

For the driver's failures it can also keep a client's side open after the server closed
its own (the server's goodbye arrives, its close does not yet), and garble one reply
after the server has run the statement (a reply the driver cannot read)."""

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator

# A DataRow with no columns: for a statement described with any, asyncpg raises
# ProtocolError (an InternalClientError) while reading the reply.
_BOGUS_ROW = b"D" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big")


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._refuse_until = 0.0
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.refused = 0
        # Off by default: a server's close is passed on to its client at once.
        self.keep_clients_open = False
        self._garble: re.Pattern[bytes] | None = None
        self.garbled = 0
        self._held: set[asyncio.StreamWriter] = set()

    def refuse_for(self, seconds: float) -> None:
        """New connections are accepted and closed at once for `seconds` (forever: inf)."""
        self._refuse_until = time.monotonic() + seconds

    def drop_all(self) -> None:
        """Close every forwarded connection, both ways."""
        for writer in [*self._open, *self._held]:
            writer.close()
        self._held.clear()

    def garble_next_reply(self, containing: bytes) -> None:
        """The next reply from the server with `containing` in it (a value of a row it
        returns) gets a malformed row just before its ReadyForQuery: the statement has
        run (and committed, outside a transaction), and the driver cannot read the
        answer. Once; `garbled` counts the replies changed. A reply is taken to arrive in
        one read, as a small one does on the loopback interface."""
        self._garble = re.compile(re.escape(containing) + rb"[\s\S]*?(?=Z\x00\x00\x00\x05[ITE])")

    def _from_server(self, data: bytes) -> bytes:
        if self._garble is None:
            return data
        found = self._garble.search(data)
        if found is None:
            return data
        self._garble = None
        self.garbled += 1
        return data[: found.end()] + _BOGUS_ROW + data[found.end() :]

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        from_server: bool = False,
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(self._from_server(data) if from_server else data)
                await writer.drain()
        if from_server and self.keep_clients_open:
            self._held.add(writer)  # closed by drop_all, or when the proxy stops
            return
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._refuse_until:
            self.refused += 1
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer, from_server=True)
            )
        finally:
            self._open -= {writer, up_writer}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["TcpProxy"]:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self.drop_all()
            self._server.close()
            await self._server.wait_closed()
