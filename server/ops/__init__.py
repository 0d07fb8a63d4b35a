"""Operations: backups of the database and the photo store, and their restore."""
