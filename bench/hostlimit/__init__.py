"""Host-wide link budgets: 8 streams under a host limit and against a throttling store
(:mod:`.bandwidth`), the rates sampled from ``/proc`` (:mod:`.iorate`), rendered by
:mod:`.report_bandwidth`.  ``python -m bench.hostlimit`` runs just these."""
