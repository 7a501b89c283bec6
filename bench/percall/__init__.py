"""Per-call cost: many tiny plugin calls, as per-table backups make them (:mod:`.invocations`),
beside the Go plugin's when one is given, rendered by :mod:`.report_invocations`."""
