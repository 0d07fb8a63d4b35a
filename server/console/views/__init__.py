"""The console's pages, one module per area; every module here is imported by ``server.console._load_views``."""
