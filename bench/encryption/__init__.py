"""What client-side encryption costs: the run's section (:mod:`.encrypted`, rendered by
:mod:`.report_encryption`), in-process calls alone (:mod:`.cost`) and the cipher's floor (:mod:`.floor`)."""
