"""A TCP proxy in front of Redis that counts round trips: how often the client speaks
again after the server has answered."""

from __future__ import annotations

import selectors
import socket
import threading
from urllib.parse import urlparse


class RoundTripProxy:
    """Forwards loopback connections to ``redis_url``; ``turns`` counts client turns."""

    def __init__(self, redis_url: str) -> None:
        parsed = urlparse(redis_url)
        if parsed.scheme == "unix":
            self._target: tuple[int, object] = (socket.AF_UNIX, parsed.path)
        else:
            self._target = (socket.AF_INET, (parsed.hostname or "127.0.0.1", parsed.port or 6379))
        self.db = parsed.path.strip("/") if parsed.scheme != "unix" else ""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}"
        if self.db:
            self.url += f"/{self.db}"
        self.turns = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.socket(self._target[0], socket.SOCK_STREAM)
            server.connect(self._target[1])  # type: ignore[arg-type]
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, server)
        sel.register(server, selectors.EVENT_READ, client)
        server_spoke = True  # the first bytes from the client start a turn
        try:
            while True:
                for key, _ in sel.select():
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(1 << 20)
                    if not data:
                        return
                    if src is client:
                        if server_spoke:
                            with self._lock:
                                self.turns += 1
                        server_spoke = False
                    else:
                        server_spoke = True
                    key.data.sendall(data)
        finally:
            sel.close()
            client.close()
            server.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
