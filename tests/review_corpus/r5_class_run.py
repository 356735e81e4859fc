# expect: R5:13
"""R5 positive: the worker-like name is on the class; while 1 is while True."""


class LeaseReaper:
    def __init__(self, store) -> None:
        self.store = store

    def tick(self) -> None:
        self.store.reap()

    def start(self) -> None:
        while 1:  # want: R5
            self.tick()
