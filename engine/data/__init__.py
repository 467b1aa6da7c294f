"""Reference data shipped with the engine (code lists, specialty lists)."""
