"""The benchmarks' peer OpenBao: tests/support/openbao.py (the tests start the same servers)."""

from tests.support.openbao import (
    BaoServer,
    bao_dev,
    bao_raft,
    find_bao,
    kv_get,
    kv_list,
    kv_put,
    policy_token,
    seed_kv,
)

__all__ = [
    "BaoServer",
    "bao_dev",
    "bao_raft",
    "find_bao",
    "kv_get",
    "kv_list",
    "kv_put",
    "policy_token",
    "seed_kv",
]
