"""One module per station CALL the stations service answers; see ``services/stations/routes.py``."""
