# expect: R2:9
"""R2 positive: an async method whose only callers are sync methods of the same class."""


class Exporter:
    def __init__(self) -> None:
        self.rows: list[str] = []

    async def write_row(self, row: str) -> None:  # want: R2
        self.rows.append(row)

    def export(self, rows: list[str]) -> int:
        for row in rows:
            self.write_row(row)
        return len(self.rows)
