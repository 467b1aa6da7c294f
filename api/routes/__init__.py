"""The gateway's routers, one module per resource."""
