# expect: none
"""R3 negative: writes that are conditional themselves (the store or server checks)."""


def close_out(store, r, conn, doc_id: str) -> None:
    doc = store.get_document(doc_id)
    if doc.status == "RUNNING":
        store.transition(doc_id, "RUNNING", "FAIL")
        store.set_status(doc_id, "FAIL", expected="RUNNING")
    if r.get(f"doc:{doc_id}:result"):
        r.set(f"doc:{doc_id}:final", "DONE", nx=True)
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM tasks WHERE doc = ?", (doc_id,))
    if cur.fetchone()[0] == 0:
        cur.execute("UPDATE docs SET status = 'FAIL' WHERE id = ? AND status = 'RUNNING'", (doc_id,))
