"""The bucket as a catalogue: ``list`` of 1,000 backup sets on the run's store (:mod:`.listing`), rendered beside it."""
