"""Outbound adapters: render a message apart from sending it, then send it through a channel."""
