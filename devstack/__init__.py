"""Local development stack: runs the platform without Docker, from what template.yaml declares."""
