"""The notebook SDK: get_secret, get_credential, the providers, and the API's Client (loaded on use)."""
