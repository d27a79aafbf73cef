"""Notifications: message formats (pure), senders (I/O with timeouts), grouping dispatcher."""
