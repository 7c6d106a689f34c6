"""The keeper: holds the outer layer's private key; internal only; no database."""
