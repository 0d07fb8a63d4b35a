"""Cases transferred to enforcement (移交违法案件) and their evidence dossiers."""
