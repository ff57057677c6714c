"""Training: the engine (the loop as a generator of typed events), health alarms and the worker process the page trains in."""
