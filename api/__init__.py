"""settle.api: the interfaces, the command line and (later) the HTTP gateway."""
