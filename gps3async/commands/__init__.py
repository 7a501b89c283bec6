"""The verbs: what each plugin call does, whichever front door it came through.

:mod:`.plugin` holds the verbs gpbackup and gprestore call; :mod:`.check` and
:mod:`.verify` the operators' own verbs.  :mod:`.execute` runs one call from
argv to exit code and :mod:`.invocation` is the call as the verbs see it.
This package imports nothing at the top.
"""
