"""The public API (FastAPI): authentication, authorization, routes and error rendering."""
