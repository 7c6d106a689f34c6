"""Use cases: what a request does, in terms of domain rules, crypto recipes and the store."""
