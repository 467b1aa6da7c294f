"""Contract documents and the contract kinds that settle them."""
