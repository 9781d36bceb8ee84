"""`goalflow bench`: goalflow measured against the floor of its own engine (docs/benchmarks.md).

Each benchmark starts its own stack (the embedded Temporal dev server unless TEMPORAL_ADDRESS is
set, the SMTP sink, a worker, the API over real HTTP), drives the public HTTP API, and reports
figures, targets and verdicts. Benchmarks are commands, never timed tests.
"""

# Kept free of imports: the floor workflow's module is loaded in Temporal's sandbox, package
# and all. The command lives in goalflow_bench.main.
