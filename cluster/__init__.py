"""settle.cluster: runs settlement jobs on Ray (the only package that imports Ray)."""
