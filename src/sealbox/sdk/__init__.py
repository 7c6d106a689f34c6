"""Clients: the HTTP client of the server, and the keeper client used by the server and launcher."""
