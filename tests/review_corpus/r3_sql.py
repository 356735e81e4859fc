# expect: R3:10
"""R3 positive: SELECT, decide in Python, then an UPDATE with no status condition."""


def fail_stuck(conn, doc_id: int) -> None:
    cur = conn.cursor()
    cur.execute("SELECT status FROM docs WHERE id = ?", (doc_id,))
    (status,) = cur.fetchone()
    if status == "RUNNING":
        cur.execute("UPDATE docs SET status = 'FAIL' WHERE id = ?", (doc_id,))  # want: R3
