"""How the web app is served: every connection with Nagle's algorithm off, also in ``--workers`` processes."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from web.server import NoDelayHTTP


class _Transport(asyncio.Transport):
    """The accepted socket as an asyncio transport shows it to a protocol (nothing is written)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"socket": self.sock, "sockname": self.sock.getsockname(), "peername": self.sock.getpeername()}.get(
            name, default
        )

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


def test_every_connection_has_nagle_off_whatever_socket_it_came_from() -> None:
    """An answer's headers and body are two writes: with Nagle on, the body waits for the client's delayed ACK
    (40 ms). A socket rebuilt from a file descriptor, as a uvicorn worker's is, gets no TCP_NODELAY from asyncio."""
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()) as client:
        accepted, _ = server.accept()
        rebuilt = socket.socket(fileno=accepted.detach())  # as a worker process gets it
        with rebuilt:
            assert rebuilt.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            config = uvicorn.Config(app=lambda scope, receive, send: None)  # type: ignore[arg-type,return-value]
            config.load()
            protocol = NoDelayHTTP(config=config, server_state=ServerState(), app_state={})
            protocol.connection_made(_Transport(rebuilt))
            assert rebuilt.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert client.fileno() > 0
