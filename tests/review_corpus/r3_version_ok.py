# expect: none
"""R3 negative: the write only lands if the version read with the state has not moved."""


def sweep_stuck(conn, doc_id: int) -> None:
    cur = conn.cursor()
    cur.execute("SELECT status, version FROM docs WHERE id = ?", (doc_id,))
    status, version = cur.fetchone()
    if status == "RUNNING":
        cur.execute("UPDATE docs SET status = 'FAIL', version = version + 1 WHERE id = ? AND version = ?",
                    (doc_id, version))
