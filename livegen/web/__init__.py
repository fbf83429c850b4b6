"""The stage in the browser: every live control and a live piano roll, served by ``livegen
play --web`` from the engine's own event loop (messages: what travels; stage: the hub
between the session and the pages; server: HTTP and WebSocket; static: the page)."""
