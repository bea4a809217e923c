"""Getting things back: the version builder (plan + combine), the tree at a snapshot, safe restores."""
