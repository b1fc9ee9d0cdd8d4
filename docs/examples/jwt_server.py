"""A server that requires upstream's JWT before anyone may create or join a room."""

from __future__ import annotations

import os

from opensyncparty_transports import JwtVerifier, WebSocketServer

# The secret the Jellyfin plugin signs its tokens with (at least 32 bytes).
secret = os.environ.get("JWT_SECRET", "change me: a long random shared secret")
verifier = JwtVerifier(secret, audience="OpenWatchParty", issuer="Jellyfin", leeway_s=60)

server = WebSocketServer(
    host="127.0.0.1",
    port=3000,
    token_verifier=verifier,
    allowed_origins=["https://jf.example"],
)
# anyio.run(serve_until_signal, server) runs it, as opensyncparty-server does.
