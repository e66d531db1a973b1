"""What the benchmarks share: the record of the warnings each method raised."""

import warnings

__all__ = ["Recorder"]


class Recorder:
    """Collects the warnings raised inside ``with recorder:``, as (category, message)."""

    def __init__(self):
        self.seen = []

    def __enter__(self):
        self._ctx = warnings.catch_warnings(record=True)
        self._log = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        for w in self._log:
            item = (w.category.__name__, " ".join(str(w.message).split())[:300])
            if item not in self.seen:
                self.seen.append(item)
        return self._ctx.__exit__(*exc)
