"""What verifying costs: store modes (:mod:`.modes`), the per-block restore check (:mod:`.blockcheck`)
and the ``verify`` verb on a backup set (:mod:`.verifyset`), each beside its renderer."""
