"""Throughput against the peer tools: one stream at a time (:mod:`.singles`), every segment of a host
at once (:mod:`.segments`) and filtered restores (:mod:`.subset`), each beside its renderer."""
