"""The MLRun suite (scripts/test-mlrun runs it in `.venv-mlrun`, with MLRun's client installed).

Each module starts with `pytest.importorskip("mlrun", reason=SKIP_REASON)`: where mlrun cannot be imported
(the main suite's .venv), the module is skipped with that reason, and nothing else of it is imported.
"""
