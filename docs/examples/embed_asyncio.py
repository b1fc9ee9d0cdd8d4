"""Serve the OpenSyncParty protocol from your own asyncio server, with wsproto."""

from __future__ import annotations

import asyncio
import time
import uuid

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError as WebSocketProtocolError

from opensyncparty_core import Config, Outgoing, SessionServer

MAX_WRITE_BUFFER = 1 << 20  # bytes queued for one client before we give up on it


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Server:
    def __init__(self, config: Config | None = None) -> None:
        self.core = SessionServer(id_source=lambda: str(uuid.uuid4()), config=config)
        self.peers: dict[str, tuple[WSConnection, asyncio.StreamWriter]] = {}
        self.timer: asyncio.TimerHandle | None = None

    def deliver(self, outgoing: list[Outgoing]) -> None:
        for out in outgoing:
            for client_id in out.recipients:
                ws, writer = self.peers[client_id]
                if writer.transport.is_closing():
                    continue
                writer.write(ws.send(TextMessage(data=out.text)))
                if writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
                    writer.transport.abort()  # too slow: its handler reports the disconnect
        self.arm_timer()

    def arm_timer(self) -> None:
        # The core's only timer: call handle_timer at next_deadline().
        if self.timer is not None:
            self.timer.cancel()
        deadline = self.core.next_deadline()
        if deadline is not None:
            delay = max(0, deadline - now_ms()) / 1000
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(delay, self.on_timer)

    def on_timer(self) -> None:
        self.timer = None
        self.deliver(self.core.handle_timer(now_ms()))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        client_id: str | None = None
        text: list[str] = []
        size = 0
        try:
            while data := await reader.read(65_536):
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, Request) and event.target != "/ws":
                        writer.write(ws.send(RejectConnection(status_code=404)))
                        return
                    if isinstance(event, Request):
                        writer.write(ws.send(AcceptConnection()))
                        client_id, out = self.core.connect(now_ms())
                        self.peers[client_id] = (ws, writer)
                        self.deliver(out)
                    elif isinstance(event, TextMessage) and client_id is not None:
                        text.append(event.data)
                        size += len(event.data.encode())
                        if size > self.core.config.max_message_bytes:
                            writer.write(ws.send(CloseConnection(code=1009)))
                            return
                        if event.message_finished:
                            message, text, size = "".join(text), [], 0
                            self.deliver(self.core.receive(client_id, message, now_ms()))
                    elif isinstance(event, BytesMessage) and client_id is not None:
                        if event.message_finished:
                            self.deliver(self.core.receive_binary(client_id, now_ms()))
                    elif isinstance(event, Ping):
                        writer.write(ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        writer.write(ws.send(event.response()))
                        return
        except (ConnectionError, WebSocketProtocolError):
            pass  # a broken connection is a disconnect like any other
        finally:
            if client_id is not None:
                del self.peers[client_id]
                self.deliver(self.core.disconnect(client_id, now_ms()))
            writer.close()


async def main(host: str = "0.0.0.0", port: int = 3000) -> None:
    server = Server()
    listener = await asyncio.start_server(server.handle, host, port)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
