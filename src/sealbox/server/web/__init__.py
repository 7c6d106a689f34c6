"""The web pages: server-rendered (Jinja2), forms that work without JavaScript, no value ever rendered."""
