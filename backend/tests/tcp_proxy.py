"""A TCP proxy in front of PostgreSQL that behaves as Neon's does when a compute suspends
and wakes: it can refuse new connections for a while (the compute is waking up), drop
every open connection (it suspended), or refuse for good (it never comes back)."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._refuse_until = 0.0
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.refused = 0

    def refuse_for(self, seconds: float) -> None:
        """New connections are accepted and closed at once for `seconds` (forever: inf)."""
        self._refuse_until = time.monotonic() + seconds

    def drop_all(self) -> None:
        """Close every forwarded connection, both ways."""
        for writer in list(self._open):
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
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
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
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
