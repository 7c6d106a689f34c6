"""SQLAlchemy persistence: the only package that knows about rows and SQL."""
