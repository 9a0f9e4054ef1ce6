"""The supervisor: the Administrator, its template, control socket and loop."""
