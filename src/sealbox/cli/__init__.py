"""The `sealbox` command line: an HTTP client of the server, plus `up`, `server`, `keeper` and `admin`."""
