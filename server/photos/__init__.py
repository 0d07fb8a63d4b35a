"""Evidence photos: intake pipeline, renditions and blob storage."""
