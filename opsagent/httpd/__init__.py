"""The HTTP server's plumbing: its settings, TLS, the connection guard, request bodies."""
