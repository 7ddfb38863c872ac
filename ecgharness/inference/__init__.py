"""Using kept models: load a final run's weights (:mod:`bundle`), export them, score new records."""
