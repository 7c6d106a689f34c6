"""Recipes over `cryptography`: callers pick no algorithm, nonce or key length."""
