"""Host-wide bandwidth limits, the maths: no I/O, no clock (time is passed in).

:mod:`.fairshare` divides a host's rate among its streams; :mod:`.window`
keeps the sliding windows a rate is measured over.  The part the agent (or an
in-process call) owns and the pipelines wait on is
:mod:`gps3async.runtime.bandwidth`.
"""
